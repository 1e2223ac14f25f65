-- accept.lua - one message that the policy accepts: no verdict before EOM,
-- CONTINUE/ACCEPT at EOM, our A-R header inserted at the top, nothing
-- deleted, not quarantined.
-- -D: IP, HOST, HELO, QID, FROM, AR_WANT (expected unfolded A-R value, "*": any).
dofile(TESTDIR .. "/common.lua")

run(function()
	local conn = mx_open(IP, HOST, HELO)
	mx_mail(conn, QID, FROM)
	mx_rcpt(conn, "<rcpt@dest.example>", SMFIR_CONTINUE)
	mx_message(conn, std_headers("sender@client.example", QID))
	expect_ar(conn, AR_WANT)
	check(not mt.eom_check(conn, MT_HDRDELETE), "a header was deleted")
	check(not mt.eom_check(conn, MT_QUARANTINE), "message quarantined")
	mt.disconnect(conn)
end)
