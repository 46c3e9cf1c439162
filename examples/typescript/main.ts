// A service written in TypeScript that uses an npm package.
//
//   GET  /users/42          → {"id":42,"name":"user 42"}
//   GET  /users/abc         → 400
//   POST /same  [a, b]      → {"equal": true|false}  (deep equality by dequal)
//   GET  /                  → a greeting from [vars]
import { dequal } from "dequal";
import { parseId, user, type User } from "./lib/users.ts";

interface Env {
  GREETING: string;
}

function json(body: unknown, status: number = 200): Response {
  return Response.json(body, { status });
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const { pathname } = new URL(request.url);
    const match = pathname.match(/^\/users\/([^/]+)$/);
    if (match) {
      const id = parseId(match[1]);
      if (id === null) {
        return json({ error: `invalid id ${JSON.stringify(match[1])}` }, 400);
      }
      const found: User = user(id);
      return json(found);
    }
    if (pathname === "/same" && request.method === "POST") {
      const [a, b] = (await request.json()) as [unknown, unknown];
      return json({ equal: dequal(a, b) });
    }
    if (pathname === "/") {
      return new Response(`${env.GREETING} from TypeScript\n`);
    }
    return json({ error: "not found" }, 404);
  },
};
