// What a TypeScript integrator writes against the types openapi-typescript makes of our schema
// (tests/contract/test_typescript.py generates ./schema.d.ts beside a copy of this file and runs tsc --strict).
// It compiles only if bodies, errors, enums and headers are typed as the API answers: no casts, no `any`.
import type { components, operations, paths } from "./schema";

type Schemas = components["schemas"];
type RunStatus = Schemas["RunStatusEnum"];

// A trigger built from a pipeline's parameter list: every default the pipeline declares, then the caller's.
export function triggerBody(pipeline: Schemas["Pipeline"], project: string, given: Record<string, unknown>): Schemas["TriggerRequest"] {
  const params: Record<string, unknown> = {};
  for (const spec of pipeline.parameters) {
    if (!spec.required) params[spec.name] = spec.default;
    if (spec.json_type === "integer" && typeof given[spec.name] === "string") params[spec.name] = Number(given[spec.name]);
  }
  return { project, pipeline: pipeline.name, params: { ...params, ...given } };
}

// The run statuses are a closed set: a switch over them is exhaustive, or this does not compile.
export function finished(status: RunStatus): boolean {
  switch (status) {
    case "queued":
    case "provisioning":
    case "running":
    case "cancelling":
      return false;
    case "completed":
    case "failed":
    case "cancelled":
    case "dead":
      return true;
    default: {
      const unknown: never = status;
      return unknown;
    }
  }
}

// Paging: the cursor itself, passed back as the list's `cursor` query parameter.
type ListRunsQuery = NonNullable<operations["list_runs"]["parameters"]["query"]>;
export function nextQuery(page: Schemas["PaginatedRunList"], query: ListRunsQuery): ListRunsQuery | null {
  return page.next_cursor === null ? null : { ...query, cursor: page.next_cursor };
}

// Tailing: JSON pages and text pages, each its own operation, the text one with its cursor in a header.
type LogPage = operations["tail_run_logs"]["responses"][200]["content"]["application/json"];
type LogText = operations["tail_run_logs_text"]["responses"][200]["content"]["text/plain"];
type NextAfter = operations["tail_run_logs_text"]["responses"][200]["headers"]["X-Next-After"];
export function linesOf(page: LogPage): string[] {
  return page.lines.map((line) => `${line.stream === "stderr" ? "! " : ""}${line.level} ${line.text}`);
}
export function textLines(text: LogText, nextAfter: NextAfter): [string[], number] {
  return [text.split("\n").filter((line) => line !== ""), nextAfter];
}
export function stillGoing(page: LogPage): boolean {
  return !page.complete && !finished(page.run_status);
}
// @ts-expect-error: the JSON operation declares no text body, so a client cannot mistake one for the other.
export type NoTextOnJsonLogs = paths["/api/runs/{id}/logs/"]["get"]["responses"][200]["content"]["text/plain"];

// Errors: one shape everywhere, the 409 of cancel and retry with the run's status.
type CancelConflict = operations["cancel_run"]["responses"][409]["content"]["application/json"];
type RetryConflict = operations["retry_run"]["responses"][409]["content"]["application/json"];
type NotFound = operations["get_run"]["responses"][404]["content"]["application/json"];
type BadTrigger = operations["trigger_run"]["responses"][400]["content"]["application/json"];
export function whyNot(conflict: CancelConflict | RetryConflict): [RunStatus, string] {
  return [conflict.error.run_status, conflict.error.message];
}
export function badFields(error: BadTrigger | NotFound): string[] {
  return Object.entries(error.error.fields).map(([field, reason]) => `${field}: ${reason}`);
}

// Typed data: the graph, events, artifacts, who I am.
export function groupedSteps(dag: Schemas["Dag"]): Map<string, string[]> {
  const edges: string[][] = dag.edges;
  return new Map([...dag.groups.map((group): [string, string[]] => [group.name, group.steps]), ["edges", edges.flat()]]);
}
export function eventLine(event: Schemas["RunEvent"]): string {
  return `${event.old_status || "-"} -> ${event.new_status} by ${event.actor ?? "the system"}`;
}
export function artifactLine(artifact: Schemas["Artifact"]): string {
  return `${artifact.name}: ${artifact.value_type}, ${artifact.size} bytes`;
}
export function projectRoles(me: Schemas["Me"]): Record<string, Schemas["RoleEnum"]> {
  return Object.fromEntries(me.projects.map((project) => [project.slug, project.role]));
}
export function triggeredBy(run: Schemas["Run"]): string {
  return run.triggered_by ?? "nobody";
}
