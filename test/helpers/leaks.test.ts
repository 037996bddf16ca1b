// The open-handle check of test/setup/leak-check.ts, on real resources.
import net from "node:net";
import { describe, expect, test } from "vitest";
import { leakedResources, waitForLeaks } from "./leaks.js";

describe("leak check", () => {
  test("counts only watched resources beyond the baseline", () => {
    const baseline = ["PipeWrap", "TCPSocketWrap", "Timeout"];
    expect(leakedResources(baseline, ["PipeWrap", "TCPSocketWrap", "Timeout", "FSReqCallback"])).toEqual([]);
    expect(leakedResources(baseline, [...baseline, "PipeWrap", "TTYWrap"])).toEqual([]); // not watched
    expect(leakedResources(baseline, [...baseline, "TCPSocketWrap", "TCPSocketWrap", "TCPServerWrap"])).toEqual([
      expect.stringMatching(/^TCPSocketWrap ×2: a TCP connection/),
      expect.stringMatching(/^TCPServerWrap ×1: a listening server/),
    ]);
  });

  test("names a server and a connection left open, and is clean once they are closed", async () => {
    const baseline = process.getActiveResourcesInfo();
    const accepted: net.Socket[] = [];
    const server = net.createServer((socket) => accepted.push(socket.on("error", () => {})));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    const client = net.connect(port, "127.0.0.1");
    await new Promise((resolve) => client.once("connect", resolve));
    const leaked = await waitForLeaks(baseline, { graceMs: 100 });
    expect(leaked.join("\n")).toMatch(/TCPServerWrap ×1/);
    expect(leaked.join("\n")).toMatch(/TCPSocketWrap ×2/); // both ends are in this process

    client.destroy();
    for (const socket of accepted) socket.destroy();
    server.close();
    expect(await waitForLeaks(baseline, { graceMs: 2000 })).toEqual([]);
  });

  test("names a ref'd timer; an unref'd one does not count", () => {
    const baseline = process.getActiveResourcesInfo();
    const timer = setInterval(() => {}, 60_000);
    expect(leakedResources(baseline, process.getActiveResourcesInfo())).toEqual([
      expect.stringMatching(/^Timeout ×1: a ref'd timer/),
    ]);
    timer.unref();
    expect(leakedResources(baseline, process.getActiveResourcesInfo())).toEqual([]);
    clearInterval(timer);
  });
});
