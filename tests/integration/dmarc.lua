-- dmarc.lua - one message with DMARC on: envelope MAILFROM, From header(s)
-- FROM1 (and FROM2 unless empty), recipient RCPT, then the EOM verdict.
-- -D: QID, MAILFROM, FROM1, FROM2, RCPT, WANT (accept | reject |
-- quarantine | tempfail), AR_WANT (accept and quarantine: our A-R, "*" any).
dofile(TESTDIR .. "/common.lua")

run(function()
	local conn = mx_open("192.0.2.10", "mx.client.example", "mx.client.example")
	mx_mail(conn, QID, "<" .. MAILFROM .. ">")
	mx_rcpt(conn, "<" .. RCPT .. ">", SMFIR_CONTINUE)
	local headers = { { "From", FROM1 } }
	if FROM2 ~= "" then table.insert(headers, { "From", FROM2 }) end
	table.insert(headers, { "To", RCPT })
	table.insert(headers, { "Subject", QID })
	table.insert(headers, { "Message-ID", "<" .. QID .. "@client.example>" })
	mx_send_message(conn, headers)
	if WANT == "reject" or WANT == "tempfail" then
		expect_reply(conn, "EOM", SMFIR_REPLYCODE)
		check(not mt.eom_check(conn, MT_HDRINSERT, AR), "A-R inserted into a refused message")
	else
		expect_reply(conn, "EOM", SMFIR_CONTINUE, SMFIR_ACCEPT)
		check(mt.eom_check(conn, MT_QUARANTINE) == (WANT == "quarantine"),
		      "quarantined: " .. tostring(mt.eom_check(conn, MT_QUARANTINE)) .. ", want " .. WANT)
		expect_ar(conn, AR_WANT)
	end
	mt.disconnect(conn)
end)
