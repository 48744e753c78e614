## De console in het Nederlands. Dezelfde sleutels als en/console.ftl.

app-name = Portier
skip-to-content = Naar de inhoud
nav-dashboard = Overzicht
nav-account = Mijn account
sign-out = Afmelden
switch-language = English
signed-in-as = Aangemeld als { $name }

login-title = Aanmelden
login-email = E-mailadres
login-password = Wachtwoord
login-submit = Aanmelden
login-forgot = Wachtwoord vergeten?
login-failed = Het e-mailadres of het wachtwoord klopt niet.
login-inactive = Dit account kan zich niet aanmelden: het is gedeactiveerd of nog niet geactiveerd. Vraag het de beheerder van je organisatie.
login-throttled = Te veel pogingen. Probeer het over { $minutes } minuten opnieuw.
login-signed-out = Je bent afgemeld.

activate-title = Activeer je account
activate-intro = { $organization } heeft { $email } uitgenodigd. Kies een wachtwoord om het account te activeren.
activate-intro-no-org = Kies een wachtwoord om het account van { $email } te activeren.
activate-expires = Deze link werkt tot { $date }.
password-new = Nieuw wachtwoord
password-rules = Je wachtwoord heeft nodig
rule-length = minstens { $count } tekens
rule-digit = een cijfer
rule-lower = een kleine letter
rule-upper = een hoofdletter
rule-symbol = een leesteken, zoals ! of #
rule-guess = moeilijk te raden zijn, en niet je naam of e-mailadres bevatten
password-refused = Dit wachtwoord kan niet worden gebruikt:
activate-submit = Account activeren
show-password = Wachtwoord tonen

link-unknown-title = Deze link is niet geldig
link-used-title = Deze link is al gebruikt
link-expired-title = Deze link is verlopen
link-used = De link is gebruikt, of vervangen door een nieuwere die later is verstuurd.
link-expired = Links in onze mails werken een beperkte tijd, voor je veiligheid.
link-again-activation = Vraag de organisatie die je heeft uitgenodigd om een nieuwe uitnodiging. Heb je je account al geactiveerd, meld je dan aan.
link-again-reset = Vraag hieronder een nieuwe link aan; die werkt een beperkte tijd.

reset-title = Wachtwoord vergeten?
reset-intro = Vul je e-mailadres in, dan sturen we je een link om een nieuw wachtwoord te kiezen.
reset-submit = Stuur de link
reset-sent-title = Kijk in je mail
reset-sent = Als { $email } een account heeft, is een link om een nieuw wachtwoord te kiezen onderweg. Die werkt een beperkte tijd.
reset-new-title = Kies een nieuw wachtwoord
reset-new-intro = Kies een nieuw wachtwoord voor { $email }. Alle andere sessies van dit account worden afgemeld.
reset-new-submit = Wachtwoord opslaan
reset-done-title = Je wachtwoord is gewijzigd
reset-done = Meld je aan met je nieuwe wachtwoord.
back-to-sign-in = Terug naar aanmelden

dashboard-title = Overzicht
dashboard-organizations = Je organisaties
dashboard-none = Je hoort nog bij geen enkele organisatie.
dashboard-deactivated = gedeactiveerd
dashboard-roles = Rollen: { $roles }

error-title = Er ging iets mis
error-not-found = Op dit adres staat niets.
error-forbidden = Je hebt niet het recht om deze pagina te zien.
error-cross-site = Dit formulier kwam van een andere site en is geweigerd.
error-retry = Probeer het over een moment opnieuw.
