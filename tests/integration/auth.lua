-- auth.lua - a SASL-authenticated client ({auth_authen} at MAIL) from an
-- address no SPF record authorizes, with an SPF-fail sender: SPF is not
-- evaluated, so the spf-fail rule does not fire and the A-R says "none".
-- -D: QID.
dofile(TESTDIR .. "/common.lua")

run(function()
	local conn = mx_open("198.51.100.99", "roaming.client.example", "laptop.client.example")
	mx_mail(conn, QID, "<user@fail.example>", "alice")
	mx_rcpt(conn, "<rcpt@dest.example>", SMFIR_CONTINUE)
	mx_message(conn, std_headers("user@fail.example", QID))
	expect_ar(conn, "mx.rig.example; none")
	mt.disconnect(conn)
end)
