// The API's answers that every route shares: an error as JSON (with the
// fields at fault), and a route's JSON response for the OpenAPI document.
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";

export type Issue = { path: string; message: string };

export const fail = <S extends 400 | 401 | 404 | 413 | 422 | 429 | 503 | 507>(
  c: Context,
  status: S,
  error: string,
  issues?: Issue[],
) => c.json(issues ? { error, issues } : { error }, status);

/** A JSON response of a route, for createRoute's responses. */
export const jsonContent = <T extends z.ZodTypeAny>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

/** A run's or a batch's id in a route's path. */
export const uuidParam = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: "id", in: "path" } }),
});

/** The optional Idempotency-Key of a POST that queues (core/idempotency.ts), for /openapi.json; checked by idempotencyOf. */
export const idempotencyHeader = z.object({
  "idempotency-key": z.string().optional().openapi({
    description:
      "1-255 of A-Za-z0-9._:- ; a retry with the same key and body gets the first request's run (never a second run), a different body 422; kept RUSE_RESULT_TTL seconds, per API key",
  }),
});
