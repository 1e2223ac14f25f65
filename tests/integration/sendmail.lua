-- sendmail.lua - two messages on one connection with the milter macros of
-- a given MTA set-up, sent at the stages that MTA sends them:
--   MODE=sendmail  Sendmail's defaults (libmilter smfi_getsymval(3)):
--                  connect j _ {daemon_name} {if_name} {if_addr}; MAIL i
--                  {auth_type} {auth_authen} {auth_ssf} {mail_mailer}
--                  {mail_host} {mail_addr}; RCPT {rcpt_mailer} {rcpt_host}
--                  {rcpt_addr}; end of message {msg_id}.  {i} only at MAIL.
--   MODE=postfix   {i} only at RCPT (Postfix opens the queue file at the
--                  first accepted recipient).
--   MODE=eoh       {i} only at end of headers (confMILTER_MACROS_EOH).
--   MODE=eom       {i} only at end of message (confMILTER_MACROS_EOM).
--   MODE=none      no {i} at all.
-- miltertest's mt.macro() sends the macro command at once with the given
-- command byte, so 'N' (end of headers) and 'E' (end of body) work too.
-- Message 1: FROM, queue id QID, RCPT accepted, A-R must equal AR_WANT.
-- Message 2: from <second@pass.example>, queue id QID2, accepted.
-- -D: MODE, IP, HOST, HELO, QID, QID2, FROM, AR_WANT, AUTH (optional).
dofile(TESTDIR .. "/common.lua")

local unpack = table.unpack or unpack
local MACRO_EOH = string.byte("N")
local MACRO_EOM = string.byte("E")

local function domain_of(addr)
	return string.match(addr, "@([^>]*)") or ""
end

local function message(conn, qid, from, ar_want, msgno)
	local addr = string.gsub(from, "[<>]", "")
	local mail = {}
	if MODE == "sendmail" then
		table.insert(mail, "i"); table.insert(mail, qid)
	end
	if AUTH ~= nil and AUTH ~= "" then
		for _, v in ipairs({ "{auth_type}", "PLAIN", "{auth_authen}", AUTH, "{auth_ssf}", "0" }) do
			table.insert(mail, v)
		end
	end
	for _, v in ipairs({ "{mail_mailer}", "esmtp", "{mail_host}", domain_of(from), "{mail_addr}", addr }) do
		table.insert(mail, v)
	end
	mt.macro(conn, SMFIC_MAIL, unpack(mail))
	check(mt.mailfrom(conn, from) == nil, "mt.mailfrom() failed")
	expect_reply(conn, "MAIL FROM " .. from, SMFIR_CONTINUE)

	local rcpt = { "{rcpt_mailer}", "esmtp", "{rcpt_host}", "dest.example", "{rcpt_addr}", "rcpt@dest.example" }
	if MODE == "postfix" then
		table.insert(rcpt, 1, qid); table.insert(rcpt, 1, "i")
	end
	mt.macro(conn, SMFIC_RCPT, unpack(rcpt))
	check(mt.rcptto(conn, "<rcpt@dest.example>") == nil, "mt.rcptto() failed")
	expect_reply(conn, "RCPT TO", SMFIR_CONTINUE)

	mx_headers(conn, std_headers(addr, qid))
	if MODE == "eoh" then
		mt.macro(conn, MACRO_EOH, "i", qid)
	end
	check(mt.eoh(conn) == nil, "mt.eoh() failed")
	expect_reply(conn, "EOH", SMFIR_CONTINUE)
	if not mt.test_option(conn, SMFIP_NOBODY) then
		check(mt.bodystring(conn, "Test message body.\r\n") == nil, "mt.bodystring() failed")
		expect_reply(conn, "body", SMFIR_CONTINUE)
	end
	if MODE == "eom" then
		mt.macro(conn, MACRO_EOM, "i", qid, "{msg_id}", "<" .. qid .. "@client.example>")
	elseif MODE == "sendmail" then
		mt.macro(conn, MACRO_EOM, "{msg_id}", "<" .. qid .. "@client.example>")
	end
	check(mt.eom(conn) == nil, "mt.eom() failed")
	expect_reply(conn, "EOM", SMFIR_CONTINUE, SMFIR_ACCEPT)
	expect_ar(conn, ar_want)
	check(not mt.eom_check(conn, MT_QUARANTINE), "message " .. msgno .. " quarantined")
end

run(function()
	local conn = mt.connect(SOCK, 50, 0.1)
	check(conn ~= nil, "mt.connect(" .. SOCK .. ") failed")
	if MODE == "sendmail" then
		mt.macro(conn, SMFIC_CONNECT, "j", "mx.rig.example", "_", HOST .. " [" .. IP .. "]",
		         "{daemon_name}", "MTA", "{if_name}", "mx.rig.example", "{if_addr}", "192.0.2.1")
	end
	check(mt.conninfo(conn, HOST, IP) == nil, "mt.conninfo() failed")
	expect_reply(conn, "connect", SMFIR_CONTINUE)
	check(mt.helo(conn, HELO) == nil, "mt.helo() failed")
	expect_reply(conn, "HELO", SMFIR_CONTINUE)
	message(conn, QID, FROM, AR_WANT, 1)
	message(conn, QID2, "<second@pass.example>", "*", 2)
	mt.disconnect(conn)
end)
