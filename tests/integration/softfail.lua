-- softfail.lua - SPF softfail with a quarantine rule: recipients accepted,
-- at EOM the message is quarantined with the configured reason and still
-- gets our A-R header.
-- -D: QID.
dofile(TESTDIR .. "/common.lua")

run(function()
	local conn = mx_open("192.0.2.10", "mx.client.example", "mx.client.example")
	mx_mail(conn, QID, "<user@soft.example>")
	mx_rcpt(conn, "<rcpt@dest.example>", SMFIR_CONTINUE)
	mx_message(conn, std_headers("user@soft.example", QID))
	check(mt.eom_check(conn, MT_QUARANTINE), "message not quarantined")
	check(mt.eom_check(conn, MT_QUARANTINE, "SPF softfail held for review"),
	      "quarantine reason is not the configured one")
	expect_ar(conn, "mx.rig.example; spf=softfail smtp.mailfrom=user@soft.example; spf=pass smtp.helo=mx.client.example")
	mt.disconnect(conn)
end)
