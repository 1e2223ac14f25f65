-- dkim.lua - one message from a file (tests/data/dkim/*.eml) through the
-- milter with DKIM on: headers with their leading space and folds as in
-- the file, the body in chunks of 700 bytes (streamed), then EOM.
-- -D: MSG (path), QID, WANT ("accept": CONTINUE/ACCEPT and our A-R equal to
-- AR_WANT; "reject": the configured 5xx reply at EOM).
dofile(TESTDIR .. "/common.lua")

run(function()
	local headers, body = mx_read_message(MSG)
	local conn = mx_open("192.0.2.10", "mx.client.example", "mx.client.example")
	check(not mt.test_option(conn, SMFIP_NOBODY), "the milter skips the body with DKIM on")
	check(mt.test_option(conn, SMFIP_HDR_LEADSPC), "SMFIP_HDR_LEADSPC not negotiated")
	mx_mail(conn, QID, "<alice@signer.example>")
	mx_rcpt(conn, "<rcpt@dest.example>", SMFIR_CONTINUE)
	mx_headers(conn, headers, true)
	check(mt.eoh(conn) == nil, "mt.eoh() failed")
	expect_reply(conn, "EOH", SMFIR_CONTINUE)
	local off = 1
	while off <= #body do
		check(mt.bodystring(conn, string.sub(body, off, off + 699)) == nil, "mt.bodystring() failed")
		expect_reply(conn, "body", SMFIR_CONTINUE)
		off = off + 700
	end
	check(mt.eom(conn) == nil, "mt.eom() failed")
	if WANT == "reject" then
		expect_reply(conn, "EOM", SMFIR_REPLYCODE, SMFIR_REJECT)
		check(not mt.eom_check(conn, MT_HDRINSERT, AR), "A-R inserted into a rejected message")
	else
		expect_reply(conn, "EOM", SMFIR_CONTINUE, SMFIR_ACCEPT)
		expect_ar(conn, AR_WANT)
	end
	mt.disconnect(conn)
end)
