## The console in English. Keys are shared with nl/console.ftl; a test checks
## that both files hold the same keys.

app-name = Portier
skip-to-content = Skip to the content
nav-dashboard = Dashboard
nav-account = My account
sign-out = Sign out
switch-language = Nederlands
signed-in-as = Signed in as { $name }

login-title = Sign in
login-email = E-mail address
login-password = Password
login-submit = Sign in
login-forgot = Forgot your password?
login-failed = The e-mail address or the password is not right.
login-inactive = This account cannot sign in: it is deactivated, or not yet activated. Ask your organization's administrator.
login-throttled = Too many attempts. Try again in { $minutes } minutes.
login-signed-out = You are signed out.

activate-title = Activate your account
activate-intro = { $organization } invited { $email }. Choose a password to activate the account.
activate-intro-no-org = Choose a password to activate the account of { $email }.
activate-expires = This link works until { $date }.
password-new = New password
password-rules = Your password needs
rule-length = at least { $count } characters
rule-digit = a digit
rule-lower = a lower-case letter
rule-upper = an upper-case letter
rule-symbol = a symbol, such as ! or #
rule-guess = to be hard to guess, and not your name or e-mail address
password-refused = This password cannot be used:
activate-submit = Activate account
show-password = Show password

link-unknown-title = This link is not valid
link-used-title = This link has already been used
link-expired-title = This link has expired
link-used = The link was used, or replaced by a newer one that was sent later.
link-expired = Links in our mails work for a limited time, for your safety.
link-again-activation = Ask the organization that invited you to send a new invitation. If you already activated your account, sign in.
link-again-reset = Ask for a new link below; it works for a limited time.

reset-title = Forgot your password?
reset-intro = Give your e-mail address and we will send you a link to choose a new password.
reset-submit = Send the link
reset-sent-title = Check your mail
reset-sent = If { $email } has an account, a link to choose a new password is on its way. It works for a limited time.
reset-new-title = Choose a new password
reset-new-intro = Choose a new password for { $email }. Every other session of this account will be signed out.
reset-new-submit = Save the password
reset-done-title = Your password is changed
reset-done = Sign in with your new password.
back-to-sign-in = Back to sign in

dashboard-title = Dashboard
dashboard-organizations = Your organizations
dashboard-none = You do not belong to any organization yet.
dashboard-deactivated = deactivated
dashboard-roles = Roles: { $roles }

error-title = Something went wrong
error-not-found = There is nothing at this address.
error-forbidden = You do not have the right to see this page.
error-cross-site = This form came from another site and was refused.
error-retry = Please try again in a moment.
