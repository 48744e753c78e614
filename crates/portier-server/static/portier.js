// Portier's console works without this script; with it, password rules are
// checked while typing, and a password can be shown.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("[data-show-password]")) {
    const input = document.getElementById(box.dataset.showPassword);
    if (input) box.addEventListener("change", () => { input.type = box.checked ? "text" : "password"; });
  }
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
      const met = tests[li.dataset.rule](input.value);
      li.classList.toggle("met", met);
    }
  };
  input.addEventListener("input", update);
  update();
});
