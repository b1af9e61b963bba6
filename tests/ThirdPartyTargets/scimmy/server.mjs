// A SCIM 2.0 service provider built the way an application vendor builds one with SCIMMY: an Express app,
// the scimmy-routers middleware at /scim/v2, and in-memory ingress/egress/degress handlers. The sync
// engine's end-to-end tests run it as a real third-party target. SCIMMY's own behaviour (its default page
// size, index-only paging, no Location header, no ETags, case-sensitive filter matching, PATCH by
// egress + ingress) is deliberately left as it is: the handlers are correct, SCIMMY is not "fixed".
//
//   node server.mjs --port P --token T       (port 0 picks a free one)
//
// stdout: "listening <port>" once connections are accepted. stdin, one command a line: "down" closes the
// listening socket and destroys every open connection (prints "down"); "up" listens again on the same
// port (prints "up"). State survives down/up. The process exits when stdin closes.
import http from "node:http";
import {randomUUID} from "node:crypto";
import {createInterface} from "node:readline";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

function parseArgs(argv) {
    const args = {port: 0, token: ""};
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--port") args.port = Number.parseInt(argv[++i], 10);
        else if (argv[i] === "--token") args.token = argv[++i];
        else throw new Error(`unknown argument ${argv[i]}`);
    }
    if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) throw new Error("--port must be 0..65535");
    if (!args.token) throw new Error("--token is required");
    return args;
}

const {port: requestedPort, token} = parseArgs(process.argv.slice(2));

// ---- Storage: the application's own tables, kept in insertion order ---------------------------------

/** id -> stored user (plain JSON: everything SCIMMY validated on the way in, plus id and meta). */
const users = new Map();
/** lower-cased userName -> id: userName is unique, compared without case as RFC 7643 defines it. */
const userNames = new Map();
/** id -> stored group. */
const groups = new Map();

const now = () => new Date().toISOString();
const notFound = (id) => new SCIMMY.Types.Error(404, null, `Resource ${id} not found`);

/** The plain JSON of what SCIMMY validated (its schema instances carry getters and a toJSON). */
const plain = (instance) => JSON.parse(JSON.stringify(instance));

/** What egress hands back for a list: all rows, narrowed by SCIMMY's own filter matching. */
const select = (resource, table) => {
    const all = [...table.values()];
    return resource.filter ? resource.filter.match(all) : all;
};

// ---- Users -----------------------------------------------------------------------------------------

SCIMMY.Resources.declare(SCIMMY.Resources.User, {
    extensions: [{schema: SCIMMY.Schemas.EnterpriseUser, required: false}],
    ingress: (resource, instance) => {
        const data = plain(instance);
        delete data.id;
        delete data.meta;
        const key = String(data.userName ?? "").toLowerCase();
        const holder = userNames.get(key);
        if (resource.id) {
            // PUT, and PATCH (SCIMMY applies the operations to what egress returned and writes the result here).
            const existing = users.get(resource.id);
            if (!existing) throw notFound(resource.id);
            if (holder !== undefined && holder !== resource.id)
                throw new SCIMMY.Types.Error(409, "uniqueness", `userName ${data.userName} is already taken`);
            const stored = {...data, id: resource.id, meta: {created: existing.meta.created, lastModified: now()}};
            userNames.delete(String(existing.userName ?? "").toLowerCase());
            userNames.set(key, resource.id);
            users.set(resource.id, stored);
            return stored;
        }
        if (holder !== undefined)
            throw new SCIMMY.Types.Error(409, "uniqueness", `userName ${data.userName} is already taken`);
        const id = randomUUID();
        const at = now();
        const stored = {...data, id, meta: {created: at, lastModified: at}};
        users.set(id, stored);
        userNames.set(key, id);
        return stored;
    },
    egress: (resource) => {
        if (resource.id) {
            const user = users.get(resource.id);
            if (!user) throw notFound(resource.id);
            return user;
        }
        return select(resource, users);
    },
    degress: (resource) => {
        const user = users.get(resource.id);
        if (!user) throw notFound(resource.id);
        users.delete(resource.id);
        userNames.delete(String(user.userName ?? "").toLowerCase());
        // The application's membership table has a foreign key: a deleted user leaves its groups.
        for (const group of groups.values()) {
            if (Array.isArray(group.members) && group.members.some(m => m.value === resource.id)) {
                group.members = group.members.filter(m => m.value !== resource.id);
                group.meta = {...group.meta, lastModified: now()};
            }
        }
    }
});

// ---- Groups ----------------------------------------------------------------------------------------

/** Membership is a set in the application (one row per group and user): a repeated value is kept once. */
const distinctMembers = (data) => {
    if (!Array.isArray(data.members)) return;
    const seen = new Set();
    data.members = data.members.filter(m => !seen.has(m.value) && seen.add(m.value));
};

SCIMMY.Resources.declare(SCIMMY.Resources.Group, {
    ingress: (resource, instance) => {
        const data = plain(instance);
        delete data.id;
        delete data.meta;
        distinctMembers(data);
        if (resource.id) {
            const existing = groups.get(resource.id);
            if (!existing) throw notFound(resource.id);
            const stored = {...data, id: resource.id, meta: {created: existing.meta.created, lastModified: now()}};
            groups.set(resource.id, stored);
            return stored;
        }
        const id = randomUUID();
        const at = now();
        const stored = {...data, id, meta: {created: at, lastModified: at}};
        groups.set(id, stored);
        return stored;
    },
    egress: (resource) => {
        if (resource.id) {
            const group = groups.get(resource.id);
            if (!group) throw notFound(resource.id);
            return group;
        }
        return select(resource, groups);
    },
    degress: (resource) => {
        if (!groups.delete(resource.id)) throw notFound(resource.id);
    }
});

// ---- HTTP ------------------------------------------------------------------------------------------

const authorized = (req) => req.header("Authorization") === `Bearer ${token}`;

const app = express();
// The deployment measured for the reference notes sent no ETag header at all; Express would otherwise add a
// weak content-hash ETag to every body (which is not SCIM versioning either way).
app.set("etag", false);
app.disable("x-powered-by");

// Ground truth for the tests, independent of SCIMMY's paging: the raw stored rows.
app.get("/_admin/users", (req, res) => {
    if (!authorized(req)) return res.status(401).json({error: "unauthorized"});
    res.json([...users.values()]);
});
app.get("/_admin/groups", (req, res) => {
    if (!authorized(req)) return res.status(401).json({error: "unauthorized"});
    res.json([...groups.values()]);
});

app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    handler: (req) => {
        if (!authorized(req)) throw new Error("Bearer token missing or not valid");
        return "scim-client";
    },
    // Absolute meta.location values for this listener.
    baseUri: (req) => `http://${req.get("host")}`
}));

const server = http.createServer(app);
let port = requestedPort;

function listen() {
    return new Promise((resolve, reject) => {
        const onError = (err) => reject(err);
        server.once("error", onError);
        server.listen(port, "127.0.0.1", () => {
            server.off("error", onError);
            port = server.address().port;
            resolve();
        });
    });
}

function close() {
    return new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        // Kill keep-alive and in-flight connections too: an outage, not a graceful drain.
        server.closeAllConnections();
    });
}

await listen();
process.stdout.write(`listening ${port}\n`);

// Commands are handled one at a time, in order.
let queue = Promise.resolve();
const lines = createInterface({input: process.stdin});
lines.on("line", (line) => {
    const command = line.trim();
    queue = queue.then(async () => {
        try {
            if (command === "down") {
                await close();
                process.stdout.write("down\n");
            } else if (command === "up") {
                if (!server.listening) await listen();
                process.stdout.write("up\n");
            } else if (command) {
                process.stdout.write(`unknown command ${command}\n`);
            }
        } catch (err) {
            process.stdout.write(`error ${err.message}\n`);
        }
    });
});
lines.on("close", () => process.exit(0));
