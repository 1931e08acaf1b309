// The REST calls the workspace and its account pages make (docs/protocol.md, "REST"; /api/openapi.json).

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

  /** Fetches `path` with the token and saves the answer as a file, named as the server's Content-Disposition
   * says (else `name`); throws an Error with the server's message when it refuses. */
  async download(path, name) {
    const response = await fetch(path, {headers: this.token ? {Authorization: `Bearer ${this.token}`} : {}});
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      throw new Error(data && data.error ? data.error.message : response.statusText);
    }
    const named = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = named ? named[1] : name;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
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
      // A wrong password typed into a form (bad_credentials) is that form's error, not the session's end.
      if (response.status === 401 && this.token && path !== "/api/auth/logout"
          && error.code !== "bad_credentials") this.onSessionEnded(error);
      throw new ApiError(response.status, error.code, error.message);
    }
    return data;
  }

  login(email, password) { return this.call("POST", "/api/auth/login", {json: {email, password}}); }
  logout() { return this.call("POST", "/api/auth/logout"); }
  me() { return this.call("GET", "/api/me"); }
  team() { return this.call("GET", "/api/team"); }

  // first run and mailed links (no login)
  setupNeeded() { return this.call("GET", "/api/setup"); }
  setup(fields) { return this.call("POST", "/api/setup", {json: fields}); }
  forgot(email) { return this.call("POST", "/api/account/forgot", {json: {email}}); }
  linkPurpose(token) { return this.call("POST", "/api/account/token", {json: {token}}); }
  setPassword(token, password) { return this.call("POST", "/api/account/password", {json: {token, password}}); }
  confirmEmail(token) { return this.call("POST", "/api/account/email", {json: {token}}); }

  // one's own profile
  updateMe(fields) { return this.call("PATCH", "/api/me", {json: fields}); }
  changePassword(oldPassword, newPassword) {
    return this.call("POST", "/api/me/password", {json: {old_password: oldPassword, new_password: newPassword}});
  }
  changeEmail(email, password) { return this.call("POST", "/api/me/email", {json: {email, password}}); }
  putAvatar(bytes, type) { return this.call("PUT", "/api/me/avatar", {body: bytes, contentType: type}); }
  deleteAvatar() { return this.call("DELETE", "/api/me/avatar"); }

  // people (admins; supervisors within their groups)
  users() { return this.call("GET", "/api/users"); }
  createUser(fields) { return this.call("POST", "/api/users", {json: fields}); }
  updateUser(id, fields) { return this.call("PATCH", `/api/users/${encodeURIComponent(id)}`, {json: fields}); }
  userAction(id, action) { return this.call("POST", `/api/users/${encodeURIComponent(id)}/${action}`); }
  deleteUser(id) { return this.call("DELETE", `/api/users/${encodeURIComponent(id)}`); }

  // the team's site: information, logo, widget; the mail log
  site() { return this.call("GET", "/api/site"); }
  updateSite(fields) { return this.call("PATCH", "/api/site", {json: fields}); }
  putLogo(bytes, type) { return this.call("PUT", "/api/site/logo", {body: bytes, contentType: type}); }
  deleteLogo() { return this.call("DELETE", "/api/site/logo"); }
  mails() { return this.call("GET", "/api/admin/mail"); }
  directory() { return this.call("GET", "/api/directory"); }
  visitor(id) { return this.call("GET", `/api/visitors/${encodeURIComponent(id)}`); }

  // admin
  agents() { return this.call("GET", "/api/agents"); }
  createAgent(fields) { return this.call("POST", "/api/agents", {json: fields}); }
  updateAgent(id, fields) { return this.call("PATCH", `/api/agents/${encodeURIComponent(id)}`, {json: fields}); }
  groups() { return this.call("GET", "/api/groups"); }
  createGroup(fields) { return this.call("POST", "/api/groups", {json: fields}); }
  updateGroup(id, fields) { return this.call("PATCH", `/api/groups/${encodeURIComponent(id)}`, {json: fields}); }
  deleteGroup(id, moveTo) {
    const query = moveTo ? `?move_to=${encodeURIComponent(moveTo)}` : "";
    return this.call("DELETE", `/api/groups/${encodeURIComponent(id)}${query}`);
  }
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

// --- the login kept for this tab -----------------------------------------------------------------------

const TOKEN_KEY = "switchboard.token";
const USER_KEY = "switchboard.user";
const EMAIL_KEY = "switchboard.email";

/** The token and user of this tab's login (sessionStorage: gone with the tab, never shared with another). */
export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  save(login) {
    sessionStorage.setItem(TOKEN_KEY, login.token);
    sessionStorage.setItem(USER_KEY, JSON.stringify(login.user));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  },
  /** An address to put in the login form (the account pages leave it after setting a password). */
  rememberEmail: (email) => sessionStorage.setItem(EMAIL_KEY, email),
  email: () => sessionStorage.getItem(EMAIL_KEY) || "",
};
