// Portier's console in a real browser: Debian's Chromium, driven by
// playwright-core, against a real `portier serve` whose mail goes over SMTP to
// a real sink (aiosmtpd, writing a maildir). Run by scripts/e2e, which starts
// both and passes their addresses. Every flow is walked in English and in
// Dutch; a screenshot of each page lands in $OUT.
//
// The flows so far: the bootstrapped administrator activates from the mail
// (a weak password refused with its reasons), lands on the dashboard, signs
// out, signs in (a wrong password refused), switches the language, and
// chooses a new password with a reset link from the mail.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const base = process.env.PORTIER_BASE;
const maildir = process.env.MAILDIR;
const out = process.env.OUT;
const bin = process.env.PORTIER_BIN;
const STRONG = "Kw8!vLp2#rTq";
const NEWER = "Another-Str0ng-Pass!";

/** The texts each language shows, for what the test looks for. */
const TEXT = {
  en: {
    browser: "en-GB",
    activateTitle: "Activate your account",
    refused: "This password cannot be used:",
    activate: "Activate account",
    dashboard: "Dashboard",
    signOut: "Sign out",
    signedOut: "You are signed out.",
    email: "E-mail address",
    password: "Password",
    signIn: "Sign in",
    wrong: "The e-mail address or the password is not right.",
    forgot: "Forgot your password?",
    sendLink: "Send the link",
    checkMail: "Check your mail",
    newPassword: "New password",
    save: "Save the password",
    changed: "Your password is changed",
    other: "Nederlands",
    otherTitle: "Overzicht",
  },
  nl: {
    browser: "nl-NL",
    activateTitle: "Activeer je account",
    refused: "Dit wachtwoord kan niet worden gebruikt:",
    activate: "Account activeren",
    dashboard: "Overzicht",
    signOut: "Afmelden",
    signedOut: "Je bent afgemeld.",
    email: "E-mailadres",
    password: "Wachtwoord",
    signIn: "Aanmelden",
    wrong: "Het e-mailadres of het wachtwoord klopt niet.",
    forgot: "Wachtwoord vergeten?",
    sendLink: "Stuur de link",
    checkMail: "Kijk in je mail",
    newPassword: "Nieuw wachtwoord",
    save: "Wachtwoord opslaan",
    changed: "Je wachtwoord is gewijzigd",
    other: "English",
    otherTitle: "Dashboard",
  },
};

/** Undoes quoted-printable (soft line breaks and =XX), enough for links. */
function unquote(text) {
  return text
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

/** The token after `marker` in the newest mail to `to` that has one. */
async function mailLink(to, marker, after = 0) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const dir = path.join(maildir, "new");
    const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    const found = files
      .map((f) => ({ f, at: fs.statSync(path.join(dir, f)).mtimeMs }))
      .filter(({ at }) => at >= after)
      .sort((a, b) => b.at - a.at)
      .map(({ f }) => unquote(fs.readFileSync(path.join(dir, f), "utf8")))
      .find((m) => new RegExp(`^To: .*${to.replace(/[.]/g, "\\.")}`, "mi").test(m) && m.includes(marker));
    if (found) {
      const at = found.indexOf(marker) + marker.length;
      return found.slice(at, at + 64);
    }
    assert.ok(Date.now() < deadline, `no mail with ${marker} to ${to}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let shot = 0;
async function screenshot(page, lang, name) {
  shot += 1;
  const file = path.join(out, `${lang}-${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

async function walk(browser, lang) {
  const t = TEXT[lang];
  const admin = `admin-${lang}@e2e.example`;
  const boot = JSON.parse(
    execFileSync(bin, ["bootstrap", "--org", `Ziekenhuis ${lang.toUpperCase()}`, "--email", admin], { encoding: "utf8" }),
  );
  assert.ok(boot.activation_url, "bootstrap prints the link too");
  const context = await browser.newContext({ locale: t.browser, viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();

  // The administrator activates from the mail; a weak password is refused
  // with every reason.
  const token = await mailLink(admin, "/activate/");
  await page.goto(`${base}/activate/${token}`);
  await page.getByRole("heading", { name: t.activateTitle }).waitFor();
  await screenshot(page, lang, "activate");
  await page.getByLabel(t.newPassword).fill("weak");
  await screenshot(page, lang, "activate-rules-live");
  await page.getByRole("button", { name: t.activate }).click();
  await page.getByText(t.refused).waitFor();
  await screenshot(page, lang, "activate-refused");
  await page.getByLabel(t.newPassword).fill(STRONG);
  await page.getByRole("button", { name: t.activate }).click();
  await page.getByRole("heading", { name: t.dashboard, level: 1 }).waitFor();
  assert.ok(await page.getByText(`Ziekenhuis ${lang.toUpperCase()}`).isVisible(), "the organization is on the dashboard");
  await screenshot(page, lang, "dashboard");

  // Out, and in again (a wrong password first).
  await page.getByRole("button", { name: t.signOut }).click();
  await page.getByText(t.signedOut).waitFor();
  await screenshot(page, lang, "signed-out");
  await page.getByLabel(t.email).fill(admin);
  await page.getByLabel(t.password, { exact: true }).fill("not-it");
  await page.getByRole("button", { name: t.signIn }).click();
  await page.getByText(t.wrong).waitFor();
  await screenshot(page, lang, "sign-in-refused");
  await page.getByLabel(t.password, { exact: true }).fill(STRONG);
  await page.getByRole("button", { name: t.signIn }).click();
  await page.getByRole("heading", { name: t.dashboard, level: 1 }).waitFor();

  // The switch on every page.
  await page.getByRole("link", { name: t.other }).click();
  await page.getByRole("heading", { name: t.otherTitle, level: 1 }).waitFor();
  await page.getByRole("link", { name: TEXT[lang === "en" ? "nl" : "en"].other }).click();
  await page.getByRole("heading", { name: t.dashboard, level: 1 }).waitFor();
  await page.getByRole("button", { name: t.signOut }).click();

  // A new password with a link from the mail.
  const before = Date.now();
  await page.getByRole("link", { name: t.forgot }).click();
  await page.getByLabel(t.email).fill(admin);
  await page.getByRole("button", { name: t.sendLink }).click();
  await page.getByRole("heading", { name: t.checkMail }).waitFor();
  await screenshot(page, lang, "reset-sent");
  const reset = await mailLink(admin, "/reset/", before - 1000);
  await page.goto(`${base}/reset/${reset}`);
  await page.getByLabel(t.newPassword).fill(NEWER);
  await page.getByRole("button", { name: t.save }).click();
  await page.getByRole("heading", { name: t.changed }).waitFor();
  await screenshot(page, lang, "reset-done");
  await page.goto(`${base}/login`);
  await page.getByLabel(t.email).fill(admin);
  await page.getByLabel(t.password, { exact: true }).fill(NEWER);
  await page.getByRole("button", { name: t.signIn }).click();
  await page.getByRole("heading", { name: t.dashboard, level: 1 }).waitFor();
  await context.close();
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
});
try {
  for (const lang of ["en", "nl"]) {
    await walk(browser, lang);
    console.log(`console flows in ${lang}: passed`);
  }
} finally {
  await browser.close();
}
