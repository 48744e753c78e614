// Portier's console works without this script; with it, password rules are
// checked while typing, a password can be shown, and the BIG number is asked
// only when a chosen role needs one.
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

// seed 000: the BIG number comes after the role, when the role needs it.
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

// A content role carries only the product's permissions (seed 001): Portier's
// are offered, and sent, only for an administrator role.
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
