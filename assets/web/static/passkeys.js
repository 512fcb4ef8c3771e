// Passkeys in the browser, shared by the key server's pages. The server keeps each
// ceremony (its challenge) and hands out a ceremony id with the options; the
// answer goes back with that id. Options and answers are WebAuthn's JSON forms,
// read and made by the browser itself where it can (parse…OptionsFromJSON,
// toJSON), with a small fallback for browsers that lack them.
"use strict";
(() => {
  const b64u = {
    decode(s) {
      const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
      const out = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
      return out.buffer;
    },
    encode(buf) {
      const bytes = new Uint8Array(buf);
      let bin = "";
      for (const b of bytes) bin += String.fromCharCode(b);
      return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    },
  };

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials && window.isSecureContext);
  }

  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    return {
      ...json,
      challenge: b64u.decode(json.challenge),
      user: { ...json.user, id: b64u.decode(json.user.id) },
      excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: b64u.decode(c.id) })),
    };
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    return {
      ...json,
      challenge: b64u.decode(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: b64u.decode(c.id) })),
    };
  }

  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") return cred.toJSON();
    const r = cred.response;
    const response = { clientDataJSON: b64u.encode(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = b64u.encode(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = b64u.encode(r.authenticatorData);
      response.signature = b64u.encode(r.signature);
      if (r.userHandle) response.userHandle = b64u.encode(r.userHandle);
    }
    return { id: cred.id, rawId: b64u.encode(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      response, clientExtensionResults: cred.getClientExtensionResults() };
  }

  const api = window.waxsealAPI;

  // What went wrong in the browser's passkey prompt, in a sentence.
  function problem(e) {
    switch (e && e.name) {
      case "NotAllowedError": return window.waxsealT("passkey_closed");
      case "InvalidStateError": return window.waxsealT("passkey_exists");
      case "AbortError": return "";
      case "SecurityError": return window.waxsealT("passkey_address");
      case "NotSupportedError": return window.waxsealT("passkey_unsupported");
    }
    return window.waxsealT("passkey_failed", { error: e && e.message ? e.message : e });
  }

  function failure(message, code) {
    return { ok: false, status: 0, data: { error: code || "passkey_prompt", message } };
  }

  // deviceName is the default name of a new passkey, so a list of them makes sense.
  function deviceName() {
    const ua = navigator.userAgent;
    const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iPhone/iPad" : /Mac OS X/.test(ua) ? "Mac"
      : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : window.waxsealT("this_device");
    return window.waxsealT("passkey_name", { device: os, date: window.waxsealDate(new Date(), true) });
  }

  let pending = null; // the AbortController of a conditional (autofill) request

  function abortConditional() {
    if (pending) { pending.abort(); pending = null; }
  }

  // create makes a passkey through begin and finish endpoints; extra goes into
  // the begin body (an enrolment's token and name).
  async function create(beginPath, finishPath, extra, name) {
    abortConditional(); // a pending autofill request would block the prompt
    const begin = await api("POST", beginPath, extra);
    if (!begin.ok) return begin;
    let cred;
    try {
      cred = await navigator.credentials.create({ publicKey: creationOptions(begin.data.options) });
    } catch (e) {
      return failure(problem(e), e && e.name);
    }
    return api("POST", finishPath, { ceremony: begin.data.ceremony, credential: credentialJSON(cred), name: name || deviceName() });
  }

  // signIn asks for any passkey of this site (discoverable: no address needed)
  // and signs in with it. With conditional, the browser offers the passkeys in
  // the username field's autofill and the promise waits until one is picked.
  async function signIn(conditional) {
    abortConditional();
    const controller = new AbortController();
    if (conditional) pending = controller;
    const begin = await api("POST", "/api/v1/signin/passkey/begin");
    if (!begin.ok) return begin;
    let cred;
    try {
      cred = await navigator.credentials.get({ publicKey: requestOptions(begin.data.options),
        mediation: conditional ? "conditional" : "optional", signal: controller.signal });
    } catch (e) {
      return failure(problem(e), e && e.name);
    } finally {
      if (pending === controller) pending = null;
    }
    return api("POST", "/api/v1/signin/passkey/finish", { ceremony: begin.data.ceremony, credential: credentialJSON(cred) });
  }

  async function conditionalAvailable() {
    try {
      return supported() && !!PublicKeyCredential.isConditionalMediationAvailable && await PublicKeyCredential.isConditionalMediationAvailable();
    } catch { return false; }
  }

  window.waxsealPasskeys = { supported, create, signIn, abortConditional, conditionalAvailable, deviceName };
})();
