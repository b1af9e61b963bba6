using System.Diagnostics;
using System.Text.RegularExpressions;
using ScimSync.Server.Tests.Observability;

namespace ScimSync.Server.Tests.EndToEnd;

/// <summary>
/// The install path the README gives operators: `dotnet pack` makes a .NET tool package, `dotnet tool install` puts
/// `scimsync` into a tool path, and that command runs. Real processes, from a local folder source only: no
/// registry is needed, and a stale `scimsync` from a registry or a cache cannot stand in for the one just packed.
/// </summary>
public sealed partial class ToolPackageTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "scimsync-tool-" + Guid.NewGuid().ToString("N")[..12]);

    public ToolPackageTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task The_packed_tool_installs_into_a_tool_path_from_a_local_folder_and_runs()
    {
        var repo = MetricNamesTests.RepositoryRoot();
        var project = Path.Combine(repo, "src", "ScimSync.Cli");
        // The configuration these tests were built in (bin/CONFIG/net10.0): the CLI was built with them, so its
        // output is packed as it is (--no-build) instead of being built a second time.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var built = File.Exists(Path.Combine(project, "bin", configuration, "net10.0", "scimsync.dll"));
        var packages = Path.Combine(_root, "packages");
        var (packCode, packOut) = await RunAsync("dotnet", ["pack", project, "-c", configuration, "-o", packages, .. built ? new[] { "--no-build" } : []], repo);
        Assert.True(packCode == 0, packOut);
        var package = Assert.Single(Directory.GetFiles(packages, "*.nupkg"));
        var version = PackageVersion().Match(Path.GetFileName(package)) is { Success: true } m ? m.Groups[1].Value : throw new InvalidOperationException($"not a scimsync package: {package}");

        // Only the folder the package was packed into: <clear/> drops every source configured on the machine.
        var config = Path.Combine(_root, "nuget.config");
        await File.WriteAllTextAsync(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="packed" value="{packages}" />
              </packageSources>
            </configuration>
            """);
        var tools = Path.Combine(_root, "tools");
        var (installCode, installOut) = await RunAsync("dotnet", ["tool", "install", "scimsync", "--tool-path", tools, "--configfile", config, "--add-source", packages, "--version", version], _root,
            // A packages folder of its own: the machine's could hold an older scimsync of the same version.
            packagesFolder: Path.Combine(_root, "nuget-packages"));
        Assert.True(installCode == 0, installOut);
        Assert.Contains($"'scimsync' (version '{version}') was successfully installed", installOut);
        var scimsync = Path.Combine(tools, "scimsync");
        Assert.True(File.Exists(scimsync), $"no {scimsync} after the install: {installOut}");

        // The installed command, not the test's copy of the program: its version is the package's, with the commit.
        var work = Path.Combine(_root, "work");
        Directory.CreateDirectory(work);
        var (versionCode, versionOut) = await RunAsync(scimsync, ["--version"], work);
        Assert.True(versionCode == 0, versionOut);
        Assert.Matches($"^scimsync {Regex.Escape(version)} \\(commit ([0-9a-f]{{7,12}}|unknown)\\)$", versionOut.Trim());

        var (helpCode, helpOut) = await RunAsync(scimsync, ["serve", "--help"], work);
        Assert.True(helpCode == 0, helpOut);
        Assert.Contains("scimsync serve [options]", helpOut);
        Assert.Contains("--tls-cert", helpOut);
        // Help only: nothing was served, so no data directory appeared where it ran.
        Assert.Empty(Directory.GetFileSystemEntries(work));
    }

    [GeneratedRegex(@"^scimsync\.(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\.nupkg$")]
    private static partial Regex PackageVersion();

    /// <summary>Runs a program to completion (at most 5 minutes), standard output and error together.</summary>
    private static async Task<(int Code, string Output)> RunAsync(string file, string[] args, string workingDirectory, string? packagesFolder = null)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        if (packagesFolder is not null) psi.Environment["NUGET_PACKAGES"] = packagesFolder;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await p.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(true);
            await p.WaitForExitAsync();
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish within 5 minutes: {await stdout} {await stderr}");
        }
        return (p.ExitCode, await stdout + await stderr);
    }
}
