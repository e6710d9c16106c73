// An integrator's first calls, typed by `schema.d.ts` that openapi-typescript generates from
// openapi/openapi.json. tests/test_generated_clients.py type-checks this file strictly, runs it
// against a live server and reads the one JSON line it prints.
import createClient from "openapi-fetch";

import type { components, paths } from "./schema.js";

type Problem = components["schemas"]["Problem"];

const api = createClient<paths>({ baseUrl: setting("API_BASE_URL") });

const page = await api.GET("/api/v1/branches", { params: { query: { limit: 2 } } });
if (page.error) fail("GET /api/v1/branches", page.error);
const first = page.data.items[0];
if (first === undefined) throw new Error("GET /api/v1/branches: no branch");

const branch = await api.GET("/api/v1/branches/{branch_id}", {
  params: { path: { branch_id: first.id } },
});
if (branch.error) fail("GET /api/v1/branches/{branch_id}", branch.error);

const unknown = await api.GET("/api/v1/branches/{branch_id}", {
  params: { path: { branch_id: "00000000-0000-4000-8000-000000000000" } },
});
if (unknown.error === undefined) throw new Error("an unknown branch was found");

const token = await api.POST("/api/v1/auth/token", {
  body: {
    grant_type: "client_credentials",
    client_id: setting("API_CLIENT_ID"),
    client_secret: setting("API_CLIENT_SECRET"),
    scope: "branches:read",
  },
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
});
if (token.error) fail("POST /api/v1/auth/token", token.error);

const client = await api.GET("/api/v1/clients/me", {
  headers: { Authorization: `Bearer ${token.data.access_token}` },
});
if (client.error) fail("GET /api/v1/clients/me", client.error);

console.log(
  JSON.stringify({
    branches: page.data.items.length,
    first_city: first.address.city,
    branch_name: branch.data.name,
    etag: branch.response.headers.get("ETag"),
    unknown_status: unknown.error.status,
    token_scope: token.data.scope,
    client_name: client.data.name,
  }),
);

function setting(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function fail(call: string, problem: Problem | components["schemas"]["ValidationProblem"]): never {
  throw new Error(`${call}: ${problem.status} ${problem.title}: ${problem.detail}`);
}
