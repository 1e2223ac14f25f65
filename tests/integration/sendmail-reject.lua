-- sendmail-reject.lua - Sendmail's macro timing ({i} at MAIL only) for a
-- message refused at RCPT: the decision line, logged at RCPT, must already
-- carry the queue id (with Postfix it is "-" there: no queue file yet).
-- -D: QID.
dofile(TESTDIR .. "/common.lua")

run(function()
	local conn = mt.connect(SOCK, 50, 0.1)
	check(conn ~= nil, "mt.connect(" .. SOCK .. ") failed")
	mt.macro(conn, SMFIC_CONNECT, "j", "mx.rig.example", "_", "mx.client.example [192.0.2.10]",
	         "{daemon_name}", "MTA")
	check(mt.conninfo(conn, "mx.client.example", "192.0.2.10") == nil, "mt.conninfo() failed")
	expect_reply(conn, "connect", SMFIR_CONTINUE)
	check(mt.helo(conn, "mx.client.example") == nil, "mt.helo() failed")
	expect_reply(conn, "HELO", SMFIR_CONTINUE)
	mt.macro(conn, SMFIC_MAIL, "i", QID, "{mail_mailer}", "esmtp", "{mail_host}", "fail.example",
	         "{mail_addr}", "user@fail.example")
	check(mt.mailfrom(conn, "<user@fail.example>") == nil, "mt.mailfrom() failed")
	expect_reply(conn, "MAIL FROM", SMFIR_CONTINUE)
	mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "esmtp", "{rcpt_host}", "dest.example",
	         "{rcpt_addr}", "rcpt@dest.example")
	check(mt.rcptto(conn, "<rcpt@dest.example>") == nil, "mt.rcptto() failed")
	expect_reply(conn, "RCPT TO", SMFIR_REPLYCODE)
	mt.disconnect(conn)
end)
