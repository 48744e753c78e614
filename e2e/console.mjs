// Portier's console in a real browser: Debian's Chromium, driven by
// playwright-core, against a real `portier serve` whose mail goes over SMTP to
// a real sink (aiosmtpd, writing a maildir). Run by scripts/e2e, which starts
// both and passes their addresses. Every flow is walked in English and in
// Dutch; a screenshot of each page lands in $OUT.
//
// The flows: the bootstrapped administrator activates from the mail (a weak
// password refused with its reasons), lands on the dashboard, signs out, signs
// in (a wrong password refused), switches the language, and chooses a new
// password with a reset link from the mail. Then User Management
// (docs/RULES.md#adding-members): the administrator adds a user with a role
// that needs a BIG number (refused without it, accepted with it), the new user
// activates from the mail and signs in, the administrator changes the user's
// role, deactivates, reactivates and removes them, and the audit log shows each
// step. Then two-step verification (docs/RULES.md#two-step-verification): the
// administrator sets up an authenticator app (its code computed here, RFC
// 6238), keeps the recovery codes, signs out, signs in with a code, and again
// with a recovery code; then adds a passkey (Chromium's virtual authenticator,
// through the DevTools protocol, stands in for a fingerprint reader), signs in
// with the password and the passkey, and with the passkey alone. Portfolios
// (docs/PORTFOLIOS.md): a portfolio type and a role that allows it, a user
// added with a portfolio (a start on a month's last day warned about before
// saving), deactivated and reactivated on its page, the overview's chart of the
// last 24 months, and removal asking what becomes of the portfolio. Sign-up
// (docs/RULES.md#self-sign-up-and-e-mail-domains): a person signs up from the
// sign-in page, confirms the address from the mail, starts their own
// environment and claims a domain for it; then adds the first environment's
// administrator, whose sign-in it may not touch (the page says why), and opens
// an address no form may hold.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const AXE = fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

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
    userManagement: "User Management",
    usersNav: "Users",
    rolesNav: "Roles and permissions",
    newRole: "New role",
    roleKey: "Key",
    nameEn: "Name in English",
    nameNl: "Name in Dutch",
    productPermissions: "Permissions of your applications",
    requiresBig: "People with this role need a BIG number",
    saveRole: "Save",
    roleCreated: "The role is created.",
    users: "Users in this organization",
    addUser: "Add new user",
    doctor: "Doctor",
    member: "Member",
    big: "BIG number",
    givenName: "Given name",
    familyName: "Family name",
    addSubmit: "Add user",
    needsBig: "The chosen role needs a BIG number.",
    received: "received a mail to activate their account.",
    addedExisting: "already had an account and was added to this organization.",
    endSessions: "Sign out everywhere",
    memberElsewhere: "This person also belongs to organizations you do not manage",
    unreadable: "This address or form could not be read",
    openUser: "Open the user",
    changeRole: "Change role",
    saveRoles: "Save roles",
    rolesChanged: "The roles are changed.",
    deactivate: "Deactivate",
    deactivated: "The user is deactivated.",
    reactivate: "Reactivate",
    reactivated: "The user is reactivated.",
    remove: "Remove from organization",
    removeConfirm: "Yes, remove from the organization",
    removed: "The user is removed from the organization.",
    auditLog: "Audit log",
    about: "About (e-mail address)",
    show: "Show",
    steps: ["Added to the organization", "Account activated", "Roles changed", "Deactivated", "Reactivated", "Removed from the organization"],
    myAccount: "My account",
    manageTwoStep: "Set up or change two-step verification",
    setUpApp: "Set up an authenticator app",
    appCode: "The six-digit code the app now shows",
    turnOn: "Turn on",
    yourCodes: "Your recovery codes",
    saved: "I have saved them",
    isOn: "Two-step verification is on",
    secondStep: "Two-step verification",
    signInCode: "Code from your authenticator app",
    next: "Continue",
    useRecovery: "Use a recovery code instead",
    recoveryCode: "Recovery code",
    passkeyName: "Name of the new passkey (optional)",
    addPasskey: "Add a passkey",
    passkeyAdded: "The passkey is added.",
    usePasskey: "Use a passkey",
    signInPasskey: "Sign in with a passkey",
    portfolios: "Portfolios",
    addType: "Add a portfolio type",
    typeKey: "Key (lower case, as roles name it)",
    createType: "Add the type",
    typeAdded: "The portfolio type is added.",
    resident: "Resident",
    surgery: "Specialty training surgery",
    portfolioType: "Portfolio type",
    startDate: "Start date",
    lastDay: "is the last day of December 2099",
    portfolioDeactivate: "Deactivate temporarily",
    portfolioDeactivated: "The portfolio is deactivated; it is not billed from today on.",
    portfolioReactivated: "The portfolio is active again.",
    allPortfolios: "All portfolios",
    chart: "Billed portfolios per month",
    importLink: "Import",
    importFile: "File",
    importSkip: "Import the valid rows even if some are invalid",
    importCheck: "Check the file",
    importConfirm: "Confirm import",
    importDone: "Done",
    invalid: "Invalid",
    exportLink: "Export",
    exportXlsx: "XLSX (Excel)",
    download: "Download",
    completeIt: "Complete it (final)",
    signUpLink: "No account yet? Sign up",
    signUp: "Sign up",
    givenNameSignup: "Given name",
    organizationName: "Name of your organization (optional)",
    confirmAccount: "Confirm and create my account",
    accountReady: "Your account is ready",
    domainsNav: "Domains",
    domainsTitle: "E-mail domains",
    domain: "Domain, such as ziekenhuis.nl",
    claim: "Claim",
    claimed: "The domain is claimed; publish its record to prove it.",
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
    userManagement: "Gebruikersbeheer",
    usersNav: "Gebruikers",
    rolesNav: "Rollen en rechten",
    newRole: "Nieuwe rol",
    roleKey: "Sleutel",
    nameEn: "Naam in het Engels",
    nameNl: "Naam in het Nederlands",
    productPermissions: "Rechten van jullie applicaties",
    requiresBig: "Mensen met deze rol hebben een BIG-nummer nodig",
    saveRole: "Opslaan",
    roleCreated: "De rol is aangemaakt.",
    users: "Gebruikers in deze organisatie",
    addUser: "Nieuwe gebruiker toevoegen",
    doctor: "Arts",
    member: "Lid",
    big: "BIG-nummer",
    givenName: "Voornaam",
    familyName: "Achternaam",
    addSubmit: "Gebruiker toevoegen",
    needsBig: "De gekozen rol vraagt een BIG-nummer.",
    received: "heeft een e-mail gekregen om het account te activeren.",
    addedExisting: "had al een account en is aan deze organisatie toegevoegd.",
    endSessions: "Overal uitloggen",
    memberElsewhere: "Deze persoon hoort ook bij organisaties die jij niet beheert",
    unreadable: "Dit adres of formulier kon niet worden gelezen",
    openUser: "Gebruiker openen",
    changeRole: "Rol wijzigen",
    saveRoles: "Rollen opslaan",
    rolesChanged: "De rollen zijn gewijzigd.",
    deactivate: "Deactiveren",
    deactivated: "De gebruiker is gedeactiveerd.",
    reactivate: "Heractiveren",
    reactivated: "De gebruiker is geheractiveerd.",
    remove: "Uit de organisatie verwijderen",
    removeConfirm: "Ja, uit de organisatie verwijderen",
    removed: "De gebruiker is uit de organisatie verwijderd.",
    auditLog: "Auditlog",
    about: "Betreft (e-mailadres)",
    show: "Tonen",
    steps: ["Aan de organisatie toegevoegd", "Account geactiveerd", "Rollen gewijzigd", "Gedeactiveerd", "Geheractiveerd", "Uit de organisatie verwijderd"],
    myAccount: "Mijn account",
    manageTwoStep: "Tweestapsverificatie instellen of wijzigen",
    setUpApp: "Een authenticator-app instellen",
    appCode: "De code van zes cijfers die de app nu toont",
    turnOn: "Aanzetten",
    yourCodes: "Je herstelcodes",
    saved: "Ik heb ze bewaard",
    isOn: "Tweestapsverificatie staat aan",
    secondStep: "Tweestapsverificatie",
    signInCode: "Code uit je authenticator-app",
    next: "Doorgaan",
    useRecovery: "Gebruik in plaats daarvan een herstelcode",
    recoveryCode: "Herstelcode",
    passkeyName: "Naam van de nieuwe passkey (niet verplicht)",
    addPasskey: "Een passkey toevoegen",
    passkeyAdded: "De passkey is toegevoegd.",
    usePasskey: "Een passkey gebruiken",
    signInPasskey: "Aanmelden met een passkey",
    portfolios: "Portfolio's",
    addType: "Portfoliotype toevoegen",
    typeKey: "Sleutel (kleine letters, zoals rollen hem noemen)",
    createType: "Type toevoegen",
    typeAdded: "Het portfoliotype is toegevoegd.",
    resident: "AIOS",
    surgery: "Opleiding chirurgie",
    portfolioType: "Portfoliotype",
    startDate: "Startdatum",
    lastDay: "is de laatste dag van december 2099",
    portfolioDeactivate: "Tijdelijk deactiveren",
    portfolioDeactivated: "Het portfolio is gedeactiveerd; het wordt vanaf vandaag niet gefactureerd.",
    portfolioReactivated: "Het portfolio is weer actief.",
    allPortfolios: "Alle portfolio's",
    chart: "Gefactureerde portfolio's per maand",
    importLink: "Importeren",
    importFile: "Bestand",
    importSkip: "De geldige rijen importeren, ook als sommige ongeldig zijn",
    importCheck: "Bestand controleren",
    importConfirm: "Import bevestigen",
    importDone: "Klaar",
    invalid: "Ongeldig",
    exportLink: "Exporteren",
    exportXlsx: "XLSX (Excel)",
    download: "Downloaden",
    completeIt: "Afronden (definitief)",
    signUpLink: "Nog geen account? Meld je aan",
    signUp: "Aanmelden",
    givenNameSignup: "Voornaam",
    organizationName: "Naam van je organisatie (niet verplicht)",
    confirmAccount: "Bevestigen en mijn account aanmaken",
    accountReady: "Je account is klaar",
    domainsNav: "Domeinen",
    domainsTitle: "E-maildomeinen",
    domain: "Domein, zoals ziekenhuis.nl",
    claim: "Claimen",
    claimed: "Het domein is geclaimd; publiceer zijn record om het te bewijzen.",
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

/**
 * Checks a page against WCAG 2.1 A and AA with axe-core (labels, headings,
 * contrast, landmarks, keyboard names), and that it fits its screen: nothing
 * wider than the window, so a phone never scrolls sideways.
 */
async function accessible(page, name) {
  await page.evaluate(AXE);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
  assert.deepEqual(found, [], `${name}: accessibility`);
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= width, `${name}: ${scroll} px wide in a ${width} px window`);
}

/** RFC 4648 base32 to bytes. */
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bits = [...text.replace(/[\s=]/g, "").toUpperCase()]
    .map((c) => alphabet.indexOf(c).toString(2).padStart(5, "0"))
    .join("");
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The code an authenticator app shows at `at` (RFC 6238: SHA-1, 6 digits, 30 s). */
function totp(secret, at = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = crypto.createHmac("sha1", base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

let shot = 0;
async function screenshot(page, lang, name) {
  shot += 1;
  const file = path.join(out, `${lang}-${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  await accessible(page, `${lang} ${name}`);
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
  await page.getByRole("button", { name: t.signIn, exact: true }).click();
  await page.getByText(t.wrong).waitFor();
  await screenshot(page, lang, "sign-in-refused");
  await page.getByLabel(t.password, { exact: true }).fill(STRONG);
  await page.getByRole("button", { name: t.signIn, exact: true }).click();
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
  await page.getByRole("button", { name: t.signIn, exact: true }).click();
  await page.getByRole("heading", { name: t.dashboard, level: 1 }).waitFor();

  await userManagement(browser, page, lang);
  await portfolios(page, lang);
  await importExport(page, lang);
  await twoStep(page, lang, admin);
  await context.close();
}

async function portfolios(page, lang) {
  const t = TEXT[lang];
  const user = `sam-${lang}@e2e.example`;
  // A portfolio type for the environment, and a role that allows it.
  await page.getByRole("link", { name: t.portfolios, exact: true }).click();
  await page.getByRole("heading", { name: t.portfolios, level: 1 }).waitFor();
  await page.getByText(t.addType, { exact: true }).click();
  await page.getByLabel(t.typeKey).fill("surgery");
  await page.getByLabel(t.nameEn).fill("Specialty training surgery");
  await page.getByLabel(t.nameNl).fill("Opleiding chirurgie");
  await page.getByRole("button", { name: t.createType }).click();
  await page.getByText(t.typeAdded).waitFor();
  await page.getByRole("link", { name: t.rolesNav, exact: true }).click();
  await page.getByRole("link", { name: t.newRole }).click();
  await page.getByLabel(t.roleKey).fill("resident");
  await page.getByLabel(t.nameEn).fill("Resident");
  await page.getByLabel(t.nameNl).fill("AIOS");
  await page.getByRole("checkbox", { name: t.surgery }).check();
  await page.getByRole("button", { name: t.saveRole, exact: true }).click();
  await page.getByText(t.roleCreated).waitFor();

  // Added with a portfolio, last (docs/RULES.md#adding-members). Starting on a
  // month's last day is said before saving; another date is saved without a
  // word.
  await page.getByRole("link", { name: t.usersNav, exact: true }).click();
  await page.getByRole("link", { name: t.addUser }).click();
  await page.getByRole("checkbox", { name: t.resident }).check();
  await page.getByLabel(t.email).fill(user);
  await page.getByLabel(t.givenName).fill("Sam");
  await page.getByLabel(t.familyName).fill("de Vries");
  await page.getByLabel(t.portfolioType).selectOption("surgery");
  await page.getByLabel(t.startDate).fill("2099-12-31");
  await page.getByRole("button", { name: t.addSubmit }).click();
  await page.locator("#billing-warning", { hasText: t.lastDay }).waitFor();
  await screenshot(page, lang, "add-user-billing-warning");
  await page.getByLabel(t.startDate).fill("2100-01-01");
  await page.locator('form[action$="/members/new"] button[type=submit]').click();
  await page.getByText(`${user} ${t.received}`).waitFor();

  // Her page lists it; its own page deactivates and reactivates it.
  await page.getByRole("link", { name: t.openUser }).click();
  await page.getByRole("heading", { name: "Sam de Vries", level: 1 }).waitFor();
  await screenshot(page, lang, "member-portfolio");
  await page.getByRole("link", { name: t.surgery }).click();
  await page.getByRole("heading", { name: `${t.surgery} · Sam de Vries`, level: 1 }).waitFor();
  await page.getByRole("button", { name: t.portfolioDeactivate }).click();
  await page.getByText(t.portfolioDeactivated).waitFor();
  await page.getByRole("button", { name: t.reactivate, exact: true }).click();
  await page.getByText(t.portfolioReactivated).waitFor();
  await screenshot(page, lang, "portfolio");

  // The overview with the chart of the last 24 months, drawn on the server.
  await page.getByRole("link", { name: t.allPortfolios }).click();
  const chart = page.getByRole("img", { name: t.chart });
  await chart.waitFor();
  assert.equal(await page.locator("svg rect.bar").count(), 24, "a bar per month");
  assert.ok(await page.getByRole("link", { name: "Sam de Vries" }).isVisible());
  await screenshot(page, lang, "portfolios");

  // Removing her asks what becomes of the active portfolio.
  await page.getByRole("link", { name: t.usersNav, exact: true }).click();
  await page.getByRole("link", { name: "Sam de Vries" }).click();
  await page.getByText(t.remove, { exact: true }).click();
  await page.getByRole("radio", { name: t.completeIt }).check();
  await screenshot(page, lang, "remove-asks-about-portfolio");
  await page.getByRole("button", { name: t.removeConfirm }).click();
  await page.getByText(t.removed).waitFor();
}

// Imports (docs/IMPORTS.md): a spreadsheet of people (Dutch headers, a
// semicolon between cells, as Dutch Excel saves it) checked first, its report
// read, then imported; the members exported again, as CSV and as XLSX.
async function importExport(page, lang) {
  const t = TEXT[lang];
  await page.getByRole("link", { name: t.usersNav, exact: true }).click();
  await page.getByRole("link", { name: t.importLink, exact: true }).click();
  const csv = [
    "E-mail;Voornaam;Tussenvoegsel;Achternaam;Rol",
    `lisa-${lang}@e2e.example;Lisa;van;Dijk;member`,
    `omar-${lang}@e2e.example;Omar;;Haddou;Lid`,
    "geen-adres;Fout;;Adres;member",
  ].join("\r\n");
  await page.getByLabel(t.importFile, { exact: true }).setInputFiles({ name: "mensen.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.getByLabel(t.importSkip).check();
  await page.getByRole("button", { name: t.importCheck }).click();
  const report = page.locator("#import-report");
  await report.waitFor();
  assert.ok(await report.getByRole("cell", { name: t.invalid }).first().isVisible(), "the bad address is reported");
  await screenshot(page, lang, "import-report");
  await page.getByRole("button", { name: t.importConfirm }).click();
  await page.locator("#import-state", { hasText: t.importDone }).waitFor({ timeout: 30000 });
  await screenshot(page, lang, "import-done");
  await page.getByRole("link", { name: t.usersNav, exact: true }).click();
  assert.ok(await page.getByRole("link", { name: "Lisa van Dijk" }).isVisible(), "imported");

  await page.getByRole("link", { name: t.exportLink, exact: true }).click();
  await screenshot(page, lang, "export");
  let [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: t.download }).click()]);
  const text = fs.readFileSync(await download.path(), "utf8");
  assert.ok(text.startsWith("email,"), "a CSV with its header");
  assert.ok(text.includes(`lisa-${lang}@e2e.example`), "the imported person is exported");
  await page.getByRole("radio", { name: t.exportXlsx }).check();
  [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: t.download }).click()]);
  assert.ok(download.suggestedFilename().endsWith(".xlsx"), download.suggestedFilename());
  assert.equal(fs.readFileSync(await download.path()).subarray(0, 2).toString(), "PK", "a workbook");
}

async function signUp(browser, lang) {
  const t = TEXT[lang];
  const email = `founder-${lang}@gmail.com`;
  const context = await browser.newContext({ locale: t.browser, viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  // From the sign-in page: an address at a shared provider starts its own
  // environment (docs/RULES.md#self-sign-up-and-e-mail-domains), after the
  // address is confirmed.
  await page.goto(`${base}/login`);
  await page.getByRole("link", { name: t.signUpLink }).click();
  await page.getByRole("heading", { name: t.signUp, level: 1 }).waitFor();
  await page.getByLabel(t.email).fill(email);
  await page.getByLabel(t.givenNameSignup).fill("Noor");
  await page.getByLabel(t.familyName).fill("Bakker");
  await page.getByLabel(t.password, { exact: true }).fill(STRONG);
  await page.getByLabel(t.organizationName).fill(`Praktijk Bakker ${lang.toUpperCase()}`);
  await screenshot(page, lang, "sign-up");
  await page.getByRole("button", { name: t.signUp, exact: true }).click();
  await page.locator("#signup-sent").waitFor();
  await screenshot(page, lang, "sign-up-sent");
  const token = await mailLink(email, "/signup/");
  await page.goto(`${base}/signup/${token}`);
  await page.getByRole("button", { name: t.confirmAccount }).click();
  await page.getByRole("heading", { name: t.accountReady }).waitFor();
  await screenshot(page, lang, "sign-up-done");
  await page.goto(`${base}/login`);
  await page.getByLabel(t.email).fill(email);
  await page.getByLabel(t.password, { exact: true }).fill(STRONG);
  await page.getByRole("button", { name: t.signIn, exact: true }).click();
  await page.getByRole("heading", { name: t.dashboard, level: 1 }).waitFor();
  assert.ok(await page.getByText(`Praktijk Bakker ${lang.toUpperCase()}`).isVisible(), "the new environment");
  // Its founder administers it: the Domains page, with the record to publish.
  await page.getByRole("link", { name: t.userManagement }).click();
  await page.getByRole("link", { name: t.domainsNav, exact: true }).click();
  await page.getByRole("heading", { name: t.domainsTitle, level: 1 }).waitFor();
  await page.getByLabel(t.domain).fill(`praktijk-${lang}.example`);
  await page.getByRole("button", { name: t.claim, exact: true }).click();
  await page.getByText(t.claimed).waitFor();
  assert.ok(await page.getByText(`_portier-challenge.praktijk-${lang}.example`).isVisible());
  await screenshot(page, lang, "domains");

  // Ziekenhuis's administrator joins this environment too. Their sign-in is
  // theirs in both, so this environment cannot sign them out everywhere:
  // the page says why, and who can (docs/RULES.md#shared-accounts).
  const shared = `admin-${lang}@e2e.example`;
  await page.getByRole("link", { name: t.usersNav, exact: true }).click();
  await page.getByRole("link", { name: t.addUser }).click();
  await page.getByLabel(t.email).fill(shared);
  await page.getByRole("button", { name: t.addSubmit }).click();
  await page.getByText(`${shared} ${t.addedExisting}`).waitFor();
  await page.getByRole("link", { name: t.openUser }).click();
  await page.locator("summary", { hasText: t.endSessions }).click();
  await page.getByRole("button", { name: t.endSessions }).click();
  await page.getByText(t.memberElsewhere).waitFor();
  await screenshot(page, lang, "shared-person-refused");
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, lang, "shared-person-refused-phone");
  await page.setViewportSize({ width: 1100, height: 800 });

  // An address that holds a character no text may hold.
  const members = new URL(page.url()).pathname.replace(/\/members\/.*/, "/members");
  await page.goto(`${base}${members}?q=%00`);
  await page.getByText(t.unreadable).waitFor();
  await screenshot(page, lang, "unreadable");
  await context.close();
}

async function twoStep(page, lang, admin) {
  const t = TEXT[lang];
  // Set up: the QR code and its key; the app's code turns it on.
  await page.getByRole("link", { name: t.myAccount }).click();
  await page.getByRole("link", { name: t.manageTwoStep }).waitFor();
  await screenshot(page, lang, "my-account-sessions");
  await page.getByRole("link", { name: t.manageTwoStep }).click();
  await page.getByRole("button", { name: t.setUpApp }).click();
  await page.locator("svg[role=img]").waitFor();
  await screenshot(page, lang, "two-step-set-up");
  const secret = (await page.locator("code.secret").innerText()).replace(/\s/g, "");
  await page.getByLabel(t.appCode).fill(totp(secret));
  await page.getByRole("button", { name: t.turnOn }).click();
  await page.getByRole("heading", { name: t.yourCodes }).waitFor();
  const codes = await page.locator(".codes code").allInnerTexts();
  assert.equal(codes.length, 10, "ten recovery codes");
  await screenshot(page, lang, "two-step-recovery-codes");
  await page.getByRole("link", { name: t.saved }).click();
  await page.getByText(t.isOn).waitFor();
  await page.getByRole("button", { name: t.signOut }).click();

  // In again: the password, then the app's next code (the one that turned
  // it on is used up).
  await page.getByLabel(t.email).fill(admin);
  await page.getByLabel(t.password, { exact: true }).fill(NEWER);
  await page.getByRole("button", { name: t.signIn, exact: true }).click();
  await page.getByRole("heading", { name: t.secondStep, level: 1 }).waitFor();
  await screenshot(page, lang, "two-step-sign-in");
  await page.getByLabel(t.signInCode).fill(totp(secret, Date.now() + 30_000));
  await page.getByRole("button", { name: t.next }).click();
  await page.getByRole("heading", { name: t.dashboard, level: 1 }).waitFor();
  await page.getByRole("button", { name: t.signOut }).click();

  // And with a recovery code instead.
  await page.getByLabel(t.email).fill(admin);
  await page.getByLabel(t.password, { exact: true }).fill(NEWER);
  await page.getByRole("button", { name: t.signIn, exact: true }).click();
  await page.getByRole("link", { name: t.useRecovery }).click();
  await page.getByLabel(t.recoveryCode).fill(codes[0]);
  await screenshot(page, lang, "two-step-recovery-code");
  await page.getByRole("button", { name: t.next }).click();
  await page.getByRole("heading", { name: t.dashboard, level: 1 }).waitFor();
  await passkeys(page, lang, admin);
}

/**
 * A passkey, made and used by Chromium's virtual authenticator (a platform
 * authenticator that keeps discoverable credentials and verifies its user
 * without asking), as a laptop's fingerprint reader would.
 */
async function passkeys(page, lang, admin) {
  const t = TEXT[lang];
  const devtools = await page.context().newCDPSession(page);
  await devtools.send("WebAuthn.enable");
  const { authenticatorId } = await devtools.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await page.getByRole("link", { name: t.myAccount }).click();
  await page.getByRole("link", { name: t.manageTwoStep }).click();
  await page.getByLabel(t.passkeyName).fill("Laptop");
  await page.getByRole("button", { name: t.addPasskey }).click();
  await page.getByText(t.passkeyAdded).waitFor();
  assert.equal(await page.locator("input[value=Laptop]").count(), 1, "the passkey is listed by its name");
  const { credentials } = await devtools.send("WebAuthn.getCredentials", { authenticatorId });
  assert.equal(credentials.length, 1, "the device holds the passkey");
  assert.ok(credentials[0].isResidentCredential, "a discoverable one: it signs in without an address");
  await screenshot(page, lang, "passkeys");
  await page.getByRole("button", { name: t.signOut }).click();

  // The password, then the passkey as the second step.
  await page.getByLabel(t.email).fill(admin);
  await page.getByLabel(t.password, { exact: true }).fill(NEWER);
  await page.getByRole("button", { name: t.signIn, exact: true }).click();
  await page.getByRole("heading", { name: t.secondStep, level: 1 }).waitFor();
  await screenshot(page, lang, "two-step-passkey");
  await page.getByRole("button", { name: t.usePasskey }).click();
  await page.getByRole("heading", { name: t.dashboard, level: 1 }).waitFor();
  await page.getByRole("button", { name: t.signOut }).click();

  // The passkey alone: no address, no password.
  await page.getByText(t.signedOut).waitFor();
  await screenshot(page, lang, "sign-in-passkey");
  await page.getByRole("button", { name: t.signInPasskey }).click();
  await page.getByRole("heading", { name: t.dashboard, level: 1 }).waitFor();
  const used = await devtools.send("WebAuthn.getCredentials", { authenticatorId });
  assert.ok(used.credentials[0].signCount >= 2, "signed twice");
  await devtools.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId });
}

async function userManagement(browser, page, lang) {
  const t = TEXT[lang];
  const user = `eva-${lang}@e2e.example`;

  // From the dashboard into User Management.
  await page.getByRole("link", { name: t.userManagement }).click();
  await page.getByRole("heading", { name: t.users, level: 1 }).waitFor();
  await screenshot(page, lang, "users");

  // A role that needs a BIG number (docs/RULES.md#professional-registrations),
  // defined in Roles and permissions.
  await page.getByRole("link", { name: t.rolesNav, exact: true }).click();
  await page.getByRole("link", { name: t.newRole }).click();
  assert.ok(!(await page.getByText("admins.manage").isVisible()), "a content role is not offered Portier's permissions");
  await page.getByLabel(t.roleKey).fill("doctor");
  await page.getByLabel(t.nameEn).fill("Doctor");
  await page.getByLabel(t.nameNl).fill("Arts");
  await page.getByRole("textbox", { name: t.productPermissions }).fill("documents.read");
  await page.getByLabel(t.requiresBig).check();
  await screenshot(page, lang, "new-role");
  await page.getByRole("button", { name: t.saveRole, exact: true }).click();
  await page.getByText(t.roleCreated).waitFor();
  await screenshot(page, lang, "roles-matrix");
  await page.getByRole("link", { name: t.usersNav, exact: true }).click();
  await page.getByRole("heading", { name: t.users, level: 1 }).waitFor();
  await page.getByRole("link", { name: t.addUser }).click();
  await page.getByRole("heading", { name: t.addUser, level: 1 }).waitFor();
  await screenshot(page, lang, "add-user");
  const big = page.getByLabel(t.big);
  assert.ok(!(await big.isVisible()), "the BIG number is asked only for a role that needs it");
  await page.getByRole("checkbox", { name: t.doctor }).check();
  await big.waitFor();
  await page.getByLabel(t.email).fill(user);
  await page.getByLabel(t.givenName).fill("Eva");
  await page.getByLabel(t.familyName).fill("Visser");
  await page.getByRole("button", { name: t.addSubmit }).click();
  // Refused without the number, next to its field; what was typed stays.
  await page.locator("#registration-error", { hasText: t.needsBig }).waitFor();
  assert.equal(await page.getByLabel(t.email).inputValue(), user);
  await screenshot(page, lang, "add-user-needs-big");
  await page.getByLabel(t.big).fill("1906 1234 501");
  await page.getByRole("button", { name: t.addSubmit }).click();
  await page.getByText(`${user} ${t.received}`).waitFor();
  await screenshot(page, lang, "user-added");

  // The new user activates from the mail and signs in.
  const invited = await browser.newContext({ locale: t.browser, viewport: { width: 390, height: 844 } });
  const phone = await invited.newPage();
  const token = await mailLink(user, "/activate/");
  await phone.goto(`${base}/activate/${token}`);
  await phone.getByLabel(t.newPassword).fill(STRONG);
  await phone.getByRole("button", { name: t.activate }).click();
  await phone.getByRole("heading", { name: t.dashboard, level: 1 }).waitFor();
  assert.ok(await phone.getByText(`Ziekenhuis ${lang.toUpperCase()}`).isVisible());
  assert.equal(await phone.getByRole("link", { name: t.userManagement }).count(), 0, "a doctor manages nobody");
  await screenshot(phone, lang, "new-user-dashboard-phone");
  await invited.close();

  // The list shows her with her role, active now; her name opens her page.
  assert.ok(await page.getByRole("link", { name: t.openUser }).isVisible());
  await page.getByRole("link", { name: t.usersNav, exact: true }).click();
  await page.getByRole("heading", { name: t.users, level: 1 }).waitFor();
  const row = page.getByRole("row", { name: /Eva Visser/ });
  assert.ok(await row.getByText(t.doctor, { exact: true }).isVisible(), "her role in the list");
  await screenshot(page, lang, "users-with-new-user");

  // The administrator changes the role, deactivates, reactivates, removes.
  await page.getByRole("link", { name: "Eva Visser" }).click();
  await page.getByRole("heading", { name: "Eva Visser", level: 1 }).waitFor();
  await screenshot(page, lang, "member");
  await page.getByText(t.changeRole, { exact: true }).click();
  await page.getByRole("checkbox", { name: t.doctor }).uncheck();
  await page.getByRole("checkbox", { name: t.member }).check();
  await page.getByRole("button", { name: t.saveRoles }).click();
  await page.getByText(t.rolesChanged).waitFor();
  await page.getByRole("button", { name: t.deactivate }).click();
  await page.getByText(t.deactivated).waitFor();
  await screenshot(page, lang, "member-deactivated");
  await page.getByRole("button", { name: t.reactivate }).click();
  await page.getByText(t.reactivated).waitFor();
  await page.getByText(t.remove, { exact: true }).click();
  await page.getByRole("button", { name: t.removeConfirm }).click();
  await page.getByText(t.removed).waitFor();
  assert.equal(await page.getByText(user).count(), 0, "gone from the list");

  // The administrator's pages on a phone.
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, lang, "users-phone");
  await page.getByRole("link", { name: t.addUser }).click();
  await screenshot(page, lang, "add-user-phone");
  await page.getByRole("link", { name: t.rolesNav, exact: true }).click();
  await screenshot(page, lang, "roles-phone");
  await page.setViewportSize({ width: 1100, height: 800 });

  // The audit log shows each step.
  await page.getByRole("link", { name: t.auditLog }).click();
  await page.getByLabel(t.about).fill(user);
  await page.getByRole("button", { name: t.show }).click();
  await page.getByRole("heading", { name: t.auditLog, level: 1 }).waitFor();
  const log = await page.locator("table").innerText();
  for (const step of t.steps) assert.ok(log.includes(step), `the audit log shows "${step}"`);
  await screenshot(page, lang, "audit-log");
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
});
try {
  for (const lang of ["en", "nl"]) {
    await walk(browser, lang);
    await signUp(browser, lang);
    console.log(`console flows in ${lang}: passed`);
  }
} finally {
  await browser.close();
}
