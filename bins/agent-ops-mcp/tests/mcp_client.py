"""Drives agent-ops-mcp with the official MCP Python SDK (`mcp` on PyPI), as an agent's client
would: connect (mode "modern": `Client`, which probes server/discover and speaks 2026-07-28;
mode "legacy": `stdio_client` + `ClientSession.initialize()`, 2025-11-25), list the tools and
check every schema, then call every tool.

Usage: mcp_client.py BINARY HOME PHASE MODE
  PHASE "refused": services.json allows no change; every change must be refused by name.
  PHASE "allowed": mcp.allow lists every change; each must work, restart twice (cooldown).

Prints one JSON line per answer (the transcript; the Rust test searches it for planted
secrets), and `schema-sizes` with each tool's schemas' sizes. Exits 1 with the reason on the
first thing that is not as it should be.
"""

import json
import os
import sys

import anyio
from jsonschema.validators import validator_for
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

BINARY, HOME, PHASE, MODE = sys.argv[1:5]

TOOLS = {
    "status", "check", "uptime", "incidents", "board_list", "board_show", "board_stalled", "logs_tail",
    "board_add", "board_move", "board_edit", "silence", "unsilence", "ack", "alert_send", "restart",
}
CHANGES = {
    "board_add": ("board", {"title": "t"}),
    "board_move": ("board", {"id": "task-0", "column": "done"}),
    "board_edit": ("board", {"id": "task-0", "title": "u"}),
    "silence": ("silence", {"service": "Web", "duration": "1h"}),
    "unsilence": ("silence", {"service": "Web"}),
    "ack": ("ack", {"service": "Cache", "note": "looking"}),
    "alert_send": ("alert", {"message": "hello", "topic": "t"}),
    "restart": ("restart", {"service": "Worker"}),
}


def fail(why):
    print(f"FAILED: {why}", flush=True)
    sys.exit(1)


def expect(ok, why):
    if not ok:
        fail(why)


def record(what, result):
    dumped = result.model_dump(mode="json", by_alias=True) if hasattr(result, "model_dump") else result
    print(json.dumps({"what": what, "answer": dumped}), flush=True)


def text(result):
    return "\n".join(c.text for c in result.content if c.type == "text")


class Session:
    """The calls the test makes, over either kind of connection."""

    def __init__(self, s):
        self.s = s

    async def call(self, name, args, error=False):
        r = await self.s.call_tool(name, args)
        record(name, r)  # not the arguments: the test plants a secret in one
        expect(bool(r.is_error) == error, f"{name} {args}: isError {r.is_error}, wanted {error}: {text(r)}")
        expect(text(r).strip() != "", f"{name}: no text")
        if not error:
            expect(isinstance(r.structured_content, dict), f"{name}: no structuredContent")
        return r


async def tools_and_schemas(s):
    listed = await s.list_tools()
    record("tools/list", listed)
    names = {t.name for t in listed.tools}
    expect(names == TOOLS, f"tools: {sorted(names)}")
    sizes = []
    for t in listed.tools:
        for which, schema in (("input", t.input_schema), ("output", t.output_schema)):
            expect(schema is not None, f"{t.name}: no {which} schema")
            expect(schema.get("type") == "object", f"{t.name}: {which} schema is not an object schema")
            validator_for(schema).check_schema(schema)  # raises on an invalid schema
        read_only = t.annotations is not None and t.annotations.read_only_hint
        expect(read_only == (t.name not in CHANGES), f"{t.name}: readOnlyHint {read_only}")
        sizes.append({
            "name": t.name,
            "input_bytes": len(json.dumps(t.input_schema, separators=(",", ":"))),
            "output_bytes": len(json.dumps(t.output_schema, separators=(",", ":"))),
        })
    print(json.dumps({"what": "schema-sizes", "sizes": sizes}), flush=True)


async def reads(c):
    r = await c.call("status", {})
    states = {s["name"]: s["state"] for s in r.structured_content["services"]}
    expect(states.get("DB") == "up" and states.get("Cache") == "down", f"status: {states}")
    r = await c.call("check", {})
    checks = {x["name"]: x["state"] for x in r.structured_content["checks"]}
    expect(checks.get("DB") == "ok" and checks.get("Web") == "ok" and checks.get("Cache") == "failed", f"check: {checks}")
    r = await c.call("check", {"names": ["DB"]})
    expect([x["name"] for x in r.structured_content["checks"]] == ["DB"], "check names")
    r = await c.call("check", {"names": ["Nope"]}, error=True)
    expect("`names`" in text(r) and "DB" in text(r), f"unknown check: {text(r)}")
    r = await c.call("uptime", {"days": 7})
    expect({s["name"] for s in r.structured_content["services"]} >= {"DB", "Cache"}, "uptime services")
    r = await c.call("uptime", {"days": 1, "service": "DB", "sla": 99})
    expect([s["name"] for s in r.structured_content["services"]] == ["DB"], "uptime service")
    r = await c.call("uptime", {"days": "7"}, error=True)
    expect("`days`" in text(r) and "integer" in text(r), f"wrong type: {text(r)}")
    r = await c.call("uptime", {"days": 0}, error=True)
    expect("`days`" in text(r), f"out of range: {text(r)}")
    r = await c.call("uptime", {"weeks": 1}, error=True)
    expect("`weeks`" in text(r), f"unknown argument: {text(r)}")
    r = await c.call("incidents", {})
    opened = [i["service"] for i in r.structured_content["incidents"] if i["end"] == "open"]
    expect(opened == ["Cache"], f"incidents: {r.structured_content['incidents']}")
    expect("Cache" in text(r), f"incidents text: {text(r)}")
    r = await c.call("incidents", {"days": 1, "service": "DB"})
    expect(r.structured_content["incidents"] == [], "incidents of a service that never failed")
    r = await c.call("incidents", {"days": 0}, error=True)
    expect("`days`" in text(r), f"out of range: {text(r)}")
    r = await c.call("board_list", {})
    tasks = r.structured_content["tasks"]
    expect(any(t["title"] == "Old work" for t in tasks), f"board_list: {tasks}")
    old = next(t for t in tasks if t["title"] == "Old work")
    r = await c.call("board_show", {"id": old["id"][:9]})
    expect(r.structured_content["task"]["id"] == old["id"], "board_show by prefix")
    await c.call("board_show", {"id": "task-nope"}, error=True)
    r = await c.call("board_stalled", {})
    expect([e["task"]["id"] for e in r.structured_content["stalled"]] == [old["id"]], "board_stalled")
    r = await c.call("board_list", {"column": "done"})
    expect(r.structured_content["tasks"] == [], "board_list column")
    r = await c.call("logs_tail", {"lines": 5})
    lines = r.structured_content["lines"]
    expect(0 < len(lines) <= 5 and any("Orchestrator run complete" in x for x in lines), f"logs_tail: {lines}")
    await c.call("logs_tail", {"log": "../../etc/passwd"}, error=True)


async def refused(c):
    for name, (key, args) in CHANGES.items():
        r = await c.call(name, args, error=True)
        expect("mcp.allow" in text(r) and f'"{key}"' in text(r), f"{name} refusal does not name mcp.allow and {key}: {text(r)}")


async def allowed(c, token):
    r = await c.call("board_add", {"title": "Investigate Cache", "priority": "high", "tags": ["cache"],
                                   "description": f"pasted by mistake: {token}"})
    task = r.structured_content["task"]
    expect(task["column"] == "open" and task["priority"] == "high", f"board_add: {task}")
    r = await c.call("board_move", {"id": task["id"], "column": "in-progress"})
    expect(r.structured_content["task"]["column"] == "in-progress", "board_move")
    r = await c.call("board_edit", {"id": task["id"], "add_tags": ["agent"], "owner": "ops-agent"})
    expect(r.structured_content["task"]["tags"] == ["cache", "agent"], "board_edit tags")
    await c.call("board_edit", {"id": task["id"]}, error=True)
    await c.call("board_move", {"id": task["id"], "column": "nowhere"}, error=True)
    r = await c.call("silence", {"service": "Web", "duration": "2h", "reason": "deploy"})
    expect(r.structured_content["silenced"] is True, "silence")
    r = await c.call("status", {})
    web = next(s for s in r.structured_content["services"] if s["name"] == "Web")
    expect((web["quiet"] or "").startswith("silenced until"), f"status after silence: {web}")
    await c.call("silence", {"service": "Web", "duration": "soon"}, error=True)
    await c.call("silence", {"service": "Nope", "duration": "1h"}, error=True)
    await c.call("unsilence", {"service": "Web"})
    await c.call("unsilence", {"service": "Web"}, error=True)
    r = await c.call("ack", {"service": "Cache", "note": "restarting the cache host"})
    expect(r.structured_content["note"] == "restarting the cache host", "ack")
    await c.call("ack", {"service": "DB", "note": "x"}, error=True)
    await c.call("ack", {"service": "Cache"}, error=True)
    r = await c.call("alert_send", {"message": "agent here", "topic": "mcp-test", "level": "warning"})
    expect(r.structured_content["verdict"] == "sent", f"alert_send: {r.structured_content}")
    r = await c.call("alert_send", {"message": "agent again", "topic": "mcp-test"})
    expect(r.structured_content["verdict"] == "rate limited", f"alert_send twice: {r.structured_content}")
    r = await c.call("restart", {"service": "Worker"})
    done = r.structured_content
    expect(done["step"] == "ran" and done["recovered"] is True and done["attempt"] == 1, f"restart: {done}")
    r = await c.call("restart", {"service": "Worker"}, error=True)
    expect(r.structured_content["step"] == "cooldown" and r.structured_content["cooldown_left_seconds"] > 0,
           f"restart in cooldown: {r.structured_content}")
    expect("cooldown" in text(r), f"cooldown text: {text(r)}")
    r = await c.call("restart", {"service": "DB"}, error=True)
    expect("restart_command" in text(r), f"no restart_command: {text(r)}")
    r = await c.call("restart", {"service": "rm -rf /"}, error=True)
    expect("`service`" in text(r), f"not a service: {text(r)}")
    r = await c.call("logs_tail", {"log": "Worker"})
    expect(any("restarting worker" in x for x in r.structured_content["lines"]), f"restart log: {r.structured_content}")
    r = await c.call("logs_tail", {"lines": 3})
    expect(any("agent-ops-mcp: RESTART: Worker: attempt 1" in x for x in r.structured_content["lines"]),
           f"orchestrator log: {r.structured_content}")


async def resources(s):
    listed = await s.list_resources()
    record("resources/list", listed)
    uris = [str(r.uri) for r in listed.resources]
    expect(uris == ["agent-ops://config", "agent-ops://last-status", "agent-ops://board"], f"resources: {uris}")
    for uri in uris:
        r = await s.read_resource(uri)
        record(f"resources/read {uri}", r)
        json.loads(r.contents[0].text)
    config = json.loads((await s.read_resource("agent-ops://config")).contents[0].text)
    expect(config["alerting"]["telegram_bot_token"] == "[redacted]", "config token masked")
    expect(config["services"][0]["name"] == "DB", "config kept")


async def run(s, token):
    await tools_and_schemas(s)
    c = Session(s)
    await reads(c)
    if PHASE == "refused":
        await refused(c)
    else:
        await allowed(c, token)
    await resources(s)


async def main():
    token = os.environ["PLANTED_TOKEN"]
    env = {"AGENT_OPS_HOME": HOME, "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", HOME)}
    params = StdioServerParameters(command=BINARY, args=[], env=env)
    if MODE == "modern":
        async with Client(params) as client:
            expect(client.session.protocol_version == "2026-07-28", f"version {client.session.protocol_version}")
            await run(client.session, token)
    else:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as s:
                init = await s.initialize()
                record("initialize", init)
                expect(init.protocol_version == "2025-11-25", f"negotiated {init.protocol_version}")
                record("ping", await s.send_ping())
                await run(s, token)
    print("OK", flush=True)


anyio.run(main)
