-- dnsfault.lua - one message while the DNS upstream misbehaves
-- (tests/integration/dnsfault.sh).  Client 192.0.2.10, HELO
-- mx.client.example, MAIL FROM <alice@signer.example>.
-- -D: QID; STAGE "rcpt": RCPT must be deferred (a 4xx reply code or
-- TEMPFAIL); STAGE "eom": RCPT continues, the message MSG (a file, headers
-- and body as in dkim.lua) is sent and EOM must be deferred the same way.
dofile(TESTDIR .. "/common.lua")

run(function()
	local conn = mx_open("192.0.2.10", "mx.client.example", "mx.client.example")
	mx_mail(conn, QID, "<alice@signer.example>")
	if STAGE == "rcpt" then
		mx_rcpt(conn, "<rcpt@dest.example>", SMFIR_REPLYCODE, SMFIR_TEMPFAIL)
		mt.disconnect(conn)
		return
	end
	mx_rcpt(conn, "<rcpt@dest.example>", SMFIR_CONTINUE)
	local headers, body = mx_read_message(MSG)
	mx_headers(conn, headers, true)
	check(mt.eoh(conn) == nil, "mt.eoh() failed")
	expect_reply(conn, "EOH", SMFIR_CONTINUE)
	check(mt.bodystring(conn, body) == nil, "mt.bodystring() failed")
	expect_reply(conn, "body", SMFIR_CONTINUE)
	check(mt.eom(conn) == nil, "mt.eom() failed")
	expect_reply(conn, "EOM", SMFIR_REPLYCODE, SMFIR_TEMPFAIL)
	check(not mt.eom_check(conn, MT_HDRINSERT, AR), "A-R inserted into a deferred message")
	mt.disconnect(conn)
end)
