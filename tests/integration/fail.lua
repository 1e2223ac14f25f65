-- fail.lua - SPF fail with a reject rule: MAIL FROM continues (no verdict
-- before RCPT), RCPT is refused with the configured reply (the text is
-- checked on the decision line by the shell), then the client gives up
-- (abort) and sends a second, SPF-pass message on the same connection,
-- which must be accepted with fresh state.
-- -D: QID (first message), QID2 (second).
dofile(TESTDIR .. "/common.lua")

run(function()
	local conn = mx_open("192.0.2.10", "mx.client.example", "mx.client.example")
	mx_mail(conn, QID, "<user@fail.example>")
	mx_rcpt(conn, "<rcpt@dest.example>", SMFIR_REPLYCODE, SMFIR_REJECT)
	check(mt.abort(conn) == nil, "mt.abort() failed")

	mx_mail(conn, QID2, "<user@pass.example>")
	mx_rcpt(conn, "<rcpt@dest.example>", SMFIR_CONTINUE)
	mx_message(conn, std_headers("user@pass.example", QID2))
	expect_ar(conn, "mx.rig.example; spf=pass smtp.mailfrom=user@pass.example; spf=pass smtp.helo=mx.client.example")
	mt.disconnect(conn)
end)
