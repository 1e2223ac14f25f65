-- tempfail.lua - SPF temperror (the DNS server refuses the sender's domain)
-- with a tempfail rule: RCPT is deferred with the configured 4xx reply.
-- -D: QID.
dofile(TESTDIR .. "/common.lua")

run(function()
	local conn = mx_open("192.0.2.10", "mx.client.example", "mx.client.example")
	mx_mail(conn, QID, "<user@broken.example>")
	mx_rcpt(conn, "<rcpt@dest.example>", SMFIR_REPLYCODE, SMFIR_TEMPFAIL)
	mt.disconnect(conn)
end)
