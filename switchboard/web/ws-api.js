// The REST calls the workspace makes (docs/protocol.md, "REST"; /api/openapi.json).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(token = null) {
    this.token = token;
    this.onSessionEnded = () => {};
  }

  async call(method, path, {json, body, contentType} = {}) {
    const headers = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (body !== undefined) {
      headers["Content-Type"] = contentType || "application/octet-stream";
    }
    let response;
    try {
      response = await fetch(path, {method, headers, body});
    } catch (err) {
      throw new ApiError(0, "network", "the server cannot be reached");
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const error = data && data.error ? data.error : {code: "http_" + response.status, message: response.statusText};
      if (response.status === 401 && this.token && path !== "/api/auth/logout") this.onSessionEnded(error);
      throw new ApiError(response.status, error.code, error.message);
    }
    return data;
  }

  login(email, password) { return this.call("POST", "/api/auth/login", {json: {email, password}}); }
  logout() { return this.call("POST", "/api/auth/logout"); }
  me() { return this.call("GET", "/api/me"); }
  directory() { return this.call("GET", "/api/directory"); }
  visitor(id) { return this.call("GET", `/api/visitors/${encodeURIComponent(id)}`); }

  // admin
  agents() { return this.call("GET", "/api/agents"); }
  createAgent(fields) { return this.call("POST", "/api/agents", {json: fields}); }
  updateAgent(id, fields) { return this.call("PATCH", `/api/agents/${encodeURIComponent(id)}`, {json: fields}); }
  groups() { return this.call("GET", "/api/groups"); }
  createGroup(fields) { return this.call("POST", "/api/groups", {json: fields}); }
  membership(group, agent, join) {
    return this.call(join ? "PUT" : "DELETE",
                     `/api/groups/${encodeURIComponent(group)}/members/${encodeURIComponent(agent)}`);
  }
  documents() { return this.call("GET", "/api/admin/kb/documents"); }
  uploadDocument(name, bytes) {
    return this.call("PUT", `/api/admin/kb/documents/${encodeURIComponent(name)}`, {body: bytes});
  }
  deleteDocument(name) { return this.call("DELETE", `/api/admin/kb/documents/${encodeURIComponent(name)}`); }
}
