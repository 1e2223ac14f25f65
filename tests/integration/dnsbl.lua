-- dnsbl.lua - a client on a DNS block list: MAIL FROM continues, RCPT is
-- refused (before DATA) with the reply of the dnsbl rule (its text is
-- checked on the decision line by the shell).
-- -D: IP, QID.
dofile(TESTDIR .. "/common.lua")

run(function()
	local conn = mx_open(IP, "listed.client.example", "mx.client.example")
	mx_mail(conn, QID, "<user@nospf.example>")
	mx_rcpt(conn, "<rcpt@dest.example>", SMFIR_REPLYCODE, SMFIR_REJECT)
	mt.disconnect(conn)
end)
