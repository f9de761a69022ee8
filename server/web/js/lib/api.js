// The node's HTTP API: JSON in and out, the session's token as a Bearer header (never a
// cookie: a request this page did not make carries no credentials), typed errors.

let bearer = null;
let renew = null;

export class ApiError extends Error {
  constructor({ status = 0, code = "error", message = "", rule, cite, problems } = {}) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.rule = rule;
    this.cite = cite;
    this.problems = problems || [];
  }
}

export function setBearer(token) {
  bearer = token;
}

// Called once on a 401 of a logged-in page (the token expired): renews and retries once.
export function onUnauthorized(fn) {
  renew = fn;
}

async function send(method, path, body, accept) {
  const headers = { Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  try {
    return await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError({ code: "network", message: String(error) });
  }
}

async function failure(response) {
  let error = null;
  try {
    error = (await response.json()).error;
  } catch {
    error = null;
  }
  return new ApiError({ status: response.status, ...(error || { code: `http_${response.status}` }) });
}

async function request(method, path, body, accept) {
  let response = await send(method, path, body, accept);
  if (response.status === 401 && bearer && renew) {
    await renew();
    response = await send(method, path, body, accept);
  }
  if (!response.ok) throw await failure(response);
  return response;
}

export async function api(method, path, body) {
  const response = await request(method, path, body, "application/json");
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export async function apiBlob(path) {
  const response = await request("GET", path, undefined, "*/*");
  return response.blob();
}
