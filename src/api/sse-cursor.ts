// SSE ids for the feed (docs/feed.md): every setpointChanged / alertChanged event sent over SSE
// carries `id: <cursor>`, so an EventSource that reconnects sends it back as Last-Event-ID and
// resumes after it (read into the context by createGraphQLYoga; src/feed/open.ts resumes).
//
// yoga's SSE writer sends `data: <stringify(result)>`; a result may bring its own stringify, so
// the id line is appended to the data line: `data: {...}\nid: 42`, a valid event.
import type { Plugin } from "graphql-yoga";
import { feedCursorOf } from "../feed/open.js";

export function useSseCursorIds(): Plugin {
  return {
    onSubscribe({ args }) {
      const context = args.contextValue as { transport?: string };
      if (context.transport === "graphql-ws") return;
      return {
        onSubscribeResult() {
          return {
            onNext({ result, setResult }) {
              const cursor = feedCursorOf(context);
              if (cursor === null || !/^[0-9]+$/.test(cursor)) return;
              setResult({ ...result, stringify: (r: unknown) => `${JSON.stringify(r)}\nid: ${cursor}` } as never);
            },
          };
        },
      };
    },
  };
}
