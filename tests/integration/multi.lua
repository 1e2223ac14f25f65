-- multi.lua - per-recipient refusal: a rule on rcpt_domain refuses only
-- the matching recipients (default reply), the others are accepted, and at
-- EOM the message (whose accepted recipients do not match) is accepted.
-- -D: QID.
dofile(TESTDIR .. "/common.lua")

run(function()
	local conn = mx_open("192.0.2.10", "mx.client.example", "mx.client.example")
	mx_mail(conn, QID, "<user@pass.example>")
	mx_rcpt(conn, "<ok1@dest.example>", SMFIR_CONTINUE)
	mx_rcpt(conn, "<x@blocked.example>", SMFIR_REPLYCODE, SMFIR_REJECT)
	mx_rcpt(conn, "<y@sub.BLOCKED.example>", SMFIR_REPLYCODE, SMFIR_REJECT)
	mx_rcpt(conn, "<ok2@dest.example>", SMFIR_CONTINUE)
	mx_message(conn, std_headers("user@pass.example", QID))
	expect_ar(conn, "mx.rig.example; spf=pass smtp.mailfrom=user@pass.example; spf=pass smtp.helo=mx.client.example")
	check(not mt.eom_check(conn, MT_QUARANTINE), "message quarantined")
	mt.disconnect(conn)
end)
