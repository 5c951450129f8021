// Sigil web console: sign in with a key made in this browser, or with a passkey.
//
// "This browser": a P-256 key pair made by WebCrypto with extractable = false, kept in IndexedDB (a structured
// clone of a CryptoKey keeps it non-extractable: page script can sign with it but never read it). Only the
// public key is sent (POST /v1/auth/devices, as a JWK). To sign in, the server sends H = SHA-256(random ‖ domain)
// (POST /v1/auth/challenge); the key signs H with ECDSA/SHA-256, WebCrypto returns raw r‖s, and the server
// answers a session token (POST /v1/auth/verify).
// "Passkey": the WebAuthn ceremonies (navigator.credentials.create/get) with the options the server makes
// (/v1/webauthn/{register,login}/options) and the credential sent back as JSON (.../verify).
//
// The session token is kept in sessionStorage (this tab only) and sent as `Authorization: Bearer`.

const SESSION_KEY = "sigil.session";
const DB_NAME = "sigil-console";
const DB_STORE = "device-keys";
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" };
const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" };

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- base64url (RFC 4648 §5, no padding)

export function b64url(buffer) {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromB64url(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*={0,2}$/.test(text)) {
    throw new UiError("The server sent a value that is not base64url.");
  }
  const b64 = text.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

// ---------------------------------------------------------------- errors and HTTP

/** A problem to show as it is. */
class UiError extends Error {}

/** A problem+json answer (RFC 9457): status, title, detail, code. */
class ApiError extends Error {
  constructor(status, problem) {
    const detail = problem.detail || problem.title || `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.code = problem.code || "";
    this.title = problem.title || "";
  }

  describe() {
    const tags = [this.status ? `HTTP ${this.status}` : "", this.code].filter(Boolean).join(", ");
    return tags ? `${this.message} (${tags})` : this.message;
  }
}

async function api(method, path, body, token) {
  const headers = { accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, { title: "Network error", detail: `The server could not be reached: ${err.message}` });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const problem = data && typeof data === "object" ? data : { title: response.statusText, detail: text.slice(0, 200) };
    throw new ApiError(response.status, problem);
  }
  return data;
}

function describe(err) {
  if (err instanceof ApiError) return err.describe();
  if (err instanceof UiError) return err.message;
  // DOMExceptions from WebCrypto, IndexedDB and WebAuthn.
  switch (err && err.name) {
    case "NotAllowedError":
      return "The authenticator did not answer: the request was cancelled, timed out, or not allowed here.";
    case "InvalidStateError":
      return "This authenticator is already registered for this user.";
    case "SecurityError":
      return `This page's address (${location.hostname}) does not match the server's WebAuthn relying party.`;
    case "NotSupportedError":
      return "This authenticator does not support the requested algorithm (ES256).";
    case "AbortError":
      return "The request was aborted.";
    default:
      return `${(err && err.name) || "Error"}: ${(err && err.message) || err}`;
  }
}

// ---------------------------------------------------------------- status line

function setStatus(state, message) {
  const status = $("status");
  status.dataset.state = state;
  status.textContent = message;
}

async function run(label, work) {
  const buttons = document.querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  setStatus("busy", `${label}…`);
  try {
    const message = await work();
    setStatus("ok", message);
  } catch (err) {
    setStatus("error", `${label} failed: ${describe(err)}`);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

// ---------------------------------------------------------------- session

function sessionToken() {
  return sessionStorage.getItem(SESSION_KEY);
}

/** The token to add a device with: only the signed-in user's own session counts. */
function tokenFor(user) {
  const token = sessionToken();
  return token && $("session-panel").dataset.user === user ? token : undefined;
}

async function startSession(token) {
  sessionStorage.setItem(SESSION_KEY, token);
  return showSession();
}

async function showSession() {
  const token = sessionToken();
  if (!token) {
    showLoggedOut();
    return null;
  }
  let who;
  try {
    who = await api("GET", "/v1/auth/session", undefined, token);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      sessionStorage.removeItem(SESSION_KEY);
      showLoggedOut();
    }
    throw err;
  }
  const panel = $("session-panel");
  panel.dataset.user = who.user;
  $("whoami-user").textContent = who.user;
  $("whoami-device").textContent = who.device_id;
  $("whoami-expires").textContent = formatTime(who.expires_at);
  panel.dataset.device = who.device_id;
  panel.hidden = false;
  $("login-panel").hidden = true;
  await showDevices(token, who);
  return who;
}

async function showDevices(token, who) {
  const list = $("devices");
  let devices;
  try {
    ({ devices } = await api("GET", "/v1/auth/devices", undefined, token));
  } catch (err) {
    list.replaceChildren(element("li", { className: "error" }, `Devices could not be listed: ${describe(err)}`));
    return;
  }
  list.replaceChildren(...devices.map((device) => deviceRow(device, who)));
}

function deviceRow(device, who) {
  const row = element("li", { "data-testid": "device-row" });
  row.dataset.deviceId = device.device_id;
  row.dataset.kind = device.kind;
  row.dataset.revoked = String(Boolean(device.revoked));
  row.append(
    element("span", {}, device.name || (device.kind === "webauthn" ? "passkey" : "browser key")),
    element("span", { className: "tag" }, device.kind === "webauthn" ? "passkey" : "ECDSA key"),
    element("span", { className: "device-id" }, device.device_id),
  );
  if (device.device_id === who.device_id) row.append(element("span", { className: "tag" }, "this session"));
  if (device.revoked) {
    row.append(element("span", { className: "tag" }, "revoked"));
  } else {
    const revoke = element("button", { type: "button", "data-testid": "revoke" }, "Revoke");
    revoke.addEventListener("click", () => onRevoke(device.device_id));
    row.append(revoke);
  }
  return row;
}

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function showLoggedOut() {
  const panel = $("session-panel");
  panel.hidden = true;
  delete panel.dataset.user;
  delete panel.dataset.device;
  $("devices").replaceChildren();
  $("login-panel").hidden = false;
}

function formatTime(value) {
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

// ---------------------------------------------------------------- "this browser": WebCrypto key in IndexedDB

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(DB_STORE, { keyPath: "user" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore(mode, action) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(DB_STORE, mode);
      const request = action(tx.objectStore(DB_STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

const loadDeviceKey = (user) => withStore("readonly", (store) => store.get(user));
const saveDeviceKey = (record) => withStore("readwrite", (store) => store.put(record));

function needWebCrypto() {
  if (!window.isSecureContext || !crypto.subtle) {
    throw new UiError("WebCrypto needs a secure context: open the console over https or on localhost.");
  }
}

async function registerBrowser(user, name) {
  needWebCrypto();
  const keyPair = await crypto.subtle.generateKey(ECDSA_P256, false, ["sign", "verify"]);
  const jwk = await crypto.subtle.exportKey("jwk", keyPair.publicKey);
  const publicKey = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  const body = { user, public_key: publicKey };
  if (name) body.name = name;
  const device = await api("POST", "/v1/auth/devices", body, tokenFor(user));
  await saveDeviceKey({ user, device_id: device.device_id, keyPair, created_at: Date.now() });
  return `Registered this browser for ${device.user} as device ${device.device_id}. You can sign in now.`;
}

async function loginBrowser(user) {
  needWebCrypto();
  const record = await loadDeviceKey(user);
  if (!record) {
    throw new UiError(`This browser holds no key for "${user}". Register this browser first, or use a passkey.`);
  }
  const challenge = await api("POST", "/v1/auth/challenge", { user });
  const digest = fromB64url(challenge.challenge);
  if (digest.byteLength !== 32) throw new UiError("The server's challenge is not 32 bytes long.");
  const signature = await crypto.subtle.sign(ECDSA_SHA256, record.keyPair.privateKey, digest);
  const session = await api("POST", "/v1/auth/verify", {
    challenge_id: challenge.challenge_id,
    device_id: record.device_id,
    signature: b64url(signature),
  });
  const who = await startSession(session.session_token);
  return `Signed in as ${who.user} with this browser's key.`;
}

// ---------------------------------------------------------------- passkeys: WebAuthn

function needWebAuthn() {
  if (!window.isSecureContext || !window.PublicKeyCredential || !navigator.credentials) {
    throw new UiError("Passkeys need a browser with WebAuthn, on https or localhost.");
  }
}

function creationOptions(json) {
  const options = { ...json, challenge: fromB64url(json.challenge), user: { ...json.user, id: fromB64url(json.user.id) } };
  if (json.excludeCredentials) {
    options.excludeCredentials = json.excludeCredentials.map((c) => ({ ...c, id: fromB64url(c.id) }));
  }
  return options;
}

function requestOptions(json) {
  const options = { ...json, challenge: fromB64url(json.challenge) };
  if (json.allowCredentials) {
    options.allowCredentials = json.allowCredentials.map((c) => ({ ...c, id: fromB64url(c.id) }));
  }
  return options;
}

/** PublicKeyCredential as JSON: byte fields in base64url, as py_webauthn's parse_*_credential_json read it. */
function credentialJSON(credential) {
  const r = credential.response;
  const response = { clientDataJSON: b64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64url(r.attestationObject);
    if (typeof r.getTransports === "function") response.transports = r.getTransports();
  } else {
    response.authenticatorData = b64url(r.authenticatorData);
    response.signature = b64url(r.signature);
    if (r.userHandle) response.userHandle = b64url(r.userHandle);
  }
  const json = {
    id: credential.id,
    rawId: b64url(credential.rawId),
    type: credential.type,
    response,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
  if (credential.authenticatorAttachment) json.authenticatorAttachment = credential.authenticatorAttachment;
  return json;
}

async function registerPasskey(user, name) {
  needWebAuthn();
  const body = { user };
  if (name) body.name = name;
  const token = tokenFor(user);
  const { challenge_id, options } = await api("POST", "/v1/webauthn/register/options", body, token);
  const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
  if (!credential) throw new UiError("The authenticator made no credential.");
  const verifyBody = { challenge_id, credential: credentialJSON(credential) };
  if (name) verifyBody.name = name; // the server keeps the name given with the credential
  const device = await api("POST", "/v1/webauthn/register/verify", verifyBody, token);
  return `Registered a passkey for ${device.user} as device ${device.device_id}. You can sign in now.`;
}

async function loginPasskey(user) {
  needWebAuthn();
  const { challenge_id, options } = await api("POST", "/v1/webauthn/login/options", user ? { user } : {});
  const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
  if (!credential) throw new UiError("The authenticator gave no assertion.");
  const session = await api("POST", "/v1/webauthn/login/verify", {
    challenge_id,
    credential: credentialJSON(credential),
  });
  const who = await startSession(session.session_token);
  return `Signed in as ${who.user} with a passkey.`;
}

// ---------------------------------------------------------------- wiring

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function showMode() {
  const passkey = mode() === "passkey";
  $("register").textContent = passkey ? "Register a passkey" : "Register this browser";
  $("login").textContent = passkey ? "Sign in with a passkey" : "Sign in with this browser";
  $("mode-hint").textContent = passkey
    ? "Leave the user name empty to pick one of the passkeys your authenticator holds for this site."
    : "A key made in this browser signs the server's challenge; it cannot be copied out of the browser.";
  document.body.dataset.mode = mode();
}

function userName(required) {
  const user = $("user").value.trim();
  if (required && !user) {
    $("user").focus();
    throw new UiError("Enter a user name.");
  }
  return user;
}

function onRegister() {
  return run("Registration", async () => {
    const user = userName(true);
    const name = $("device-name").value.trim();
    return mode() === "passkey" ? registerPasskey(user, name) : registerBrowser(user, name);
  });
}

function onLogin(event) {
  event.preventDefault();
  return run("Sign-in", async () => {
    if (mode() === "passkey") return loginPasskey(userName(false));
    return loginBrowser(userName(true));
  });
}

function onWhoami() {
  return run("Session check", async () => {
    const who = await showSession();
    if (!who) throw new UiError("Not signed in.");
    return `Signed in as ${who.user} (device ${who.device_id}).`;
  });
}

function onAddDevice(kind) {
  return run(kind === "passkey" ? "Adding a passkey" : "Adding this browser", async () => {
    const user = $("session-panel").dataset.user;
    const name = $("device-name").value.trim();
    const held = kind === "browser" ? await loadDeviceKey(user) : undefined;
    if (held) throw new UiError(`This browser already holds a key for ${user} (device ${held.device_id}).`);
    const message = kind === "passkey" ? await registerPasskey(user, name) : await registerBrowser(user, name);
    await showSession();
    return message.replace(" You can sign in now.", "");
  });
}

function onRevoke(deviceId) {
  return run("Revoking", async () => {
    const token = sessionToken();
    if (!token) throw new UiError("Not signed in.");
    await api("DELETE", `/v1/auth/devices/${encodeURIComponent(deviceId)}`, undefined, token);
    await showSession().catch(() => showLoggedOut());
    return `Device ${deviceId} is revoked: it can no longer sign in.`;
  });
}

function onLogout() {
  sessionStorage.removeItem(SESSION_KEY);
  showLoggedOut();
  setStatus("ok", "Signed out. The session token is forgotten.");
}

function init() {
  document.querySelectorAll('input[name="mode"]').forEach((input) => input.addEventListener("change", showMode));
  $("login-form").addEventListener("submit", onLogin);
  $("register").addEventListener("click", onRegister);
  $("whoami").addEventListener("click", onWhoami);
  $("logout").addEventListener("click", onLogout);
  $("add-browser").addEventListener("click", () => onAddDevice("browser"));
  $("add-passkey").addEventListener("click", () => onAddDevice("passkey"));
  showMode();
  if (sessionToken()) {
    run("Session check", async () => {
      try {
        const who = await showSession();
        return `Signed in as ${who.user}.`;
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return "Your session has ended: sign in again.";
        throw err;
      }
    });
  }
  document.body.dataset.ready = "true";
}

init();
