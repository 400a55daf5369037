// What a TypeScript integrator writes against the types openapi-typescript generates from
// openapi/openapi.json, called through openapi-fetch: follow a mint from `pending` to
// `confirmed`, read its workflow while it runs and its history, page the workflow list to the
// end, read /v1/stats, and clear a webhook's filters with `null`. tests/clients.rs generates
// `schema.d.ts` beside this file and compiles both with tsc under tsconfig.json (strict): a
// spec that types a field differently from what this code relies on fails the build.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Schemas = components["schemas"];
type Api = ReturnType<typeof createClient<paths>>;

export function connect(baseUrl: string, token: string): Api {
  return createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${token}` },
  });
}

/** Polls `check` until it answers something other than undefined, for at most `ms`. */
async function eventually<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await check();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The body of a 2xx answer; a declared error's `{code, message}` is thrown. */
function ok<T>(answer: { data?: T; error?: { code: string; message: string } }): T {
  if (answer.data === undefined) {
    const error = answer.error;
    throw new Error(error ? `${error.code}: ${error.message}` : "no body");
  }
  return answer.data;
}

export async function followMint(api: Api, payer: string): Promise<Schemas["MintView"]> {
  const accepted: Schemas["MintAccepted"] = ok(
    await api.POST("/v1/mints", { body: { payer, quantity: 1 } }),
  );
  const first: Schemas["MintStatus"] = accepted.status;
  if (first !== "pending") throw new Error(`a new mint is ${first}`);
  const id: string = accepted.id;

  const running: Schemas["Workflow"] = ok(
    await api.GET("/v1/workflows/{id}", { params: { path: { id } } }),
  );
  const ended = ["completed", "failed", "cancelled"].includes(running.status);
  console.log(`workflow ${running.id} (${running.kind}) is ${running.state}, ended: ${ended}`);

  const confirmed = await eventually("the mint to be confirmed", 60_000, async () => {
    const mint = ok(await api.GET("/v1/mints/{id}", { params: { path: { id } } }));
    return mint.status === "confirmed" ? mint : undefined;
  });

  const history: Schemas["History"] = ok(
    await api.GET("/v1/workflows/{id}/history", { params: { path: { id } } }),
  );
  const states: string[] = history.events.map((event) => event.toState);
  console.log(`history of ${history.workflow.id}: ${states.join(" -> ")}`);
  return confirmed;
}

/** Every workflow, one page at a time, until a page has no `nextCursor`. */
export async function allWorkflows(api: Api): Promise<Schemas["Workflow"][]> {
  const all: Schemas["Workflow"][] = [];
  let cursor: string | undefined;
  do {
    const query: NonNullable<paths["/v1/workflows"]["get"]["parameters"]["query"]> = { limit: 100 };
    if (cursor !== undefined) query.cursor = cursor;
    const page: Schemas["WorkflowPage"] = ok(await api.GET("/v1/workflows", { params: { query } }));
    all.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return all;
}

export async function confirmedMints(api: Api): Promise<number> {
  const stats: Schemas["Stats"] = ok(await api.GET("/v1/stats"));
  return stats.workflows
    .filter((row) => row.kind === "mint" && row.state === "confirmed")
    .reduce((sum, row) => sum + row.count, 0);
}

/** Clears a webhook's filters and description: `null` means all kinds, all states, none. */
export async function clearWebhookFilters(api: Api, id: string): Promise<Schemas["Webhook"]> {
  const changes: Schemas["WebhookChanges"] = { kinds: null, states: null, description: null };
  const webhook = ok(
    await api.PATCH("/v1/webhooks/{id}", { params: { path: { id } }, body: changes }),
  );
  const kinds: string[] | null | undefined = webhook.kinds;
  if (kinds != null) throw new Error(`kinds still ${kinds.join(",")}`);
  return webhook;
}
