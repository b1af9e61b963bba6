using ScimSync.Cli;

return await Cli.RunAsync(args).ConfigureAwait(false);
