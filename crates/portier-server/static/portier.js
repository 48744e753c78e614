// Portier's console works without this script; with it, password rules are
// checked while typing, a password can be shown, the BIG number is asked
// only when a chosen role needs one, and passkeys can be made and used (they
// need the browser's navigator.credentials, so only this part needs it).
"use strict";

function showPasswords() {
  for (const box of document.querySelectorAll("[data-show-password]")) {
    const input = document.getElementById(box.dataset.showPassword);
    if (input) box.addEventListener("change", () => { input.type = box.checked ? "text" : "password"; });
  }
}

function passwordRules() {
  const input = document.querySelector("input[data-min-length]");
  if (!input) return;
  const tests = {
    length: (v) => [...v].length >= Number(input.dataset.minLength),
    digit: (v) => /[0-9]/.test(v),
    lower: (v) => /\p{Ll}/u.test(v),
    upper: (v) => /\p{Lu}/u.test(v),
    symbol: (v) => /[^\p{L}\p{N}\s]/u.test(v),
  };
  const update = () => {
    for (const li of document.querySelectorAll("[data-rule]")) {
      li.classList.toggle("met", tests[li.dataset.rule](input.value));
    }
  };
  input.addEventListener("input", update);
  update();
}

// The BIG number comes after the role, when the role needs it
// (docs/RULES.md#adding-members).
function bigStep() {
  for (const step of document.querySelectorAll("[data-big-step]")) {
    const form = step.closest("form");
    const input = step.querySelector("input");
    const roles = form.querySelectorAll("input[name=roles]");
    const update = () => {
      const needed = [...roles].some((r) => r.checked && r.hasAttribute("data-needs-big"));
      const refused = input && input.getAttribute("aria-invalid") === "true";
      step.hidden = !(needed || refused || (input && input.value));
    };
    for (const r of roles) r.addEventListener("change", update);
    update();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  showPasswords();
  passwordRules();
  bigStep();
});

// A content role carries only the product's permissions
// (docs/RULES.md#roles-and-permissions): Portier's are offered, and sent, only
// for an administrator role.
function adminOnly() {
  for (const part of document.querySelectorAll("[data-admin-only]")) {
    const kinds = part.closest("form").querySelectorAll("input[name=kind]");
    if (!kinds.length) continue;
    const update = () => {
      part.hidden = ![...kinds].some((k) => k.checked && k.value === "admin");
      for (const box of part.querySelectorAll("input")) box.disabled = part.hidden;
    };
    for (const k of kinds) k.addEventListener("change", update);
    update();
  }
}
document.addEventListener("DOMContentLoaded", adminOnly);

// A secret shown once is selected whole, ready to copy.
document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("[data-select-all]")) {
    input.addEventListener("focus", () => input.select());
  }
});

// Passkeys: a form marked data-passkey="create" or "get" asks the API at
// data-passkey-start for a ceremony, hands its options to the browser, and
// carries the browser's answer (binary values in base64url, as the server
// reads them) to the form's own action. Shown only where the browser can.
const base64url = {
  decode(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  },
  encode(buffer) {
    let text = "";
    for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};

async function passkeyAnswer(kind, options) {
  const key = options.publicKey;
  key.challenge = base64url.decode(key.challenge);
  for (const c of key.excludeCredentials || []) c.id = base64url.decode(c.id);
  for (const c of key.allowCredentials || []) c.id = base64url.decode(c.id);
  if (kind === "create") {
    key.user.id = base64url.decode(key.user.id);
    const made = await navigator.credentials.create({ publicKey: key });
    return {
      id: made.id,
      rawId: base64url.encode(made.rawId),
      type: made.type,
      response: {
        attestationObject: base64url.encode(made.response.attestationObject),
        clientDataJSON: base64url.encode(made.response.clientDataJSON),
        transports: made.response.getTransports ? made.response.getTransports() : undefined,
      },
      extensions: made.getClientExtensionResults(),
    };
  }
  const used = await navigator.credentials.get({ publicKey: key });
  return {
    id: used.id,
    rawId: base64url.encode(used.rawId),
    type: used.type,
    response: {
      authenticatorData: base64url.encode(used.response.authenticatorData),
      clientDataJSON: base64url.encode(used.response.clientDataJSON),
      signature: base64url.encode(used.response.signature),
      userHandle: used.response.userHandle ? base64url.encode(used.response.userHandle) : null,
    },
    extensions: used.getClientExtensionResults(),
  };
}

function passkeys() {
  const forms = document.querySelectorAll("form[data-passkey]");
  if (!window.PublicKeyCredential || !navigator.credentials) {
    for (const p of document.querySelectorAll("[data-passkey-unsupported]")) p.hidden = false;
    return;
  }
  for (const form of forms) {
    form.hidden = false;
    const failed = form.querySelector("[data-passkey-error]");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (failed) failed.hidden = true;
      button.disabled = true;
      try {
        const started = await fetch(form.dataset.passkeyStart, {
          method: "POST",
          credentials: "same-origin",
          headers: { accept: "application/json" },
        });
        if (!started.ok) throw new Error(`ceremony: ${started.status}`);
        const ceremony = await started.json();
        const answer = await passkeyAnswer(form.dataset.passkey, ceremony.options);
        form.elements.ceremony_id.value = ceremony.ceremony_id;
        form.elements.credential.value = JSON.stringify(answer);
        form.submit();
      } catch (e) {
        button.disabled = false;
        if (failed) failed.hidden = false;
      }
    });
  }
}
document.addEventListener("DOMContentLoaded", passkeys);
