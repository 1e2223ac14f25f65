-- mtaname.lua - the MTA sends its name ({j}) at connect, but the config
-- sets authserv_id: the config's id is written, the forged A-R with it is
-- deleted, and the one with the MTA's name (another host's id here) kept.
-- -D: QID, J (the MTA's name).
dofile(TESTDIR .. "/common.lua")

run(function()
	local conn = mt.connect(SOCK, 50, 0.1)
	check(conn ~= nil, "mt.connect(" .. SOCK .. ") failed")
	check(mt.macro(conn, SMFIC_CONNECT, "j", J) == nil, "mt.macro(j) failed")
	check(mt.conninfo(conn, "mx.client.example", "192.0.2.10") == nil, "mt.conninfo() failed")
	expect_reply(conn, "connect", SMFIR_CONTINUE)
	check(mt.helo(conn, "mx.client.example") == nil, "mt.helo() failed")
	expect_reply(conn, "HELO", SMFIR_CONTINUE)
	mx_mail(conn, QID, "<user@pass.example>")
	mx_rcpt(conn, "<rcpt@dest.example>", SMFIR_CONTINUE)
	mx_message(conn, {
		{ "From", "user@pass.example" },
		{ AR, J .. "; dkim=pass header.d=pass.example" },                    -- 1 kept
		{ AR, "mx.rig.example; spf=pass smtp.mailfrom=user@pass.example" }, -- 2 ours
		{ "To", "rcpt@dest.example" },
	})
	check(ar_deleted(conn, 2), AR .. " #2 (ours, forged) was not deleted")
	check(not ar_deleted(conn, 1), AR .. " #1 (the MTA's name, not our id) was deleted")
	expect_ar(conn, "mx.rig.example; spf=pass smtp.mailfrom=user@pass.example; spf=pass smtp.helo=mx.client.example")
	mt.disconnect(conn)
end)
