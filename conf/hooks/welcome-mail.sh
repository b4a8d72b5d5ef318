#!/bin/sh
# welcome-mail.sh — an svcd hook: a welcome mail for each user_registered.
#
# svcd runs it once per matching event with the event as one JSON line on
# stdin ({"seq":N,"time":"...","event":"user_registered","data":{...},
# "source":"..."}) and SVCD_EVENT, SVCD_SEQ and SVCD_HOOK in the environment.
# Whatever it prints goes to svcd's log as "hook NAME: ..."; a non-zero exit
# is a failure (retried if the hook has retries, then counted).
#
# This example does not send mail: it writes the message to the outbox
# directory given as its first argument (default /tmp/svcd-outbox).
set -eu
outbox=${1:-/tmp/svcd-outbox}
read -r line
email=$(printf '%s\n' "$line" | sed -n 's/.*"email":"\([^"]*\)".*/\1/p')
if [ -z "$email" ]; then
	echo "event #$SVCD_SEQ has no \"email\" string; no mail" >&2
	exit 1
fi
mkdir -p "$outbox"
{
	printf 'To: %s\nSubject: Welcome!\n\n' "$email"
	printf 'Thanks for registering (event #%s).\n' "$SVCD_SEQ"
} >"$outbox/$SVCD_SEQ.mail"
echo "welcome mail to $email queued as $outbox/$SVCD_SEQ.mail"
