-- common.lua - helpers shared by the miltertest scripts of
-- tests/integration (loaded with dofile(TESTDIR .. "/common.lua")).
-- Globals from miltertest -D: TESTDIR, SOCK ("unix:/path").
-- Every helper raises a Lua error (miltertest exits 1) when the daemon does
-- not behave as the spec says.

AR = "Authentication-Results"

function check(cond, msg)
	if not cond then
		error(msg, 2)
	end
end

local function rname(r)
	if r == nil then return "nil" end
	if r == 0 then return "NUL" end
	return string.format("'%s'", string.char(r))
end

-- The last reply must be one of the given SMFIR_* codes.
function expect_reply(conn, what, ...)
	local r = mt.getreply(conn)
	for _, want in ipairs({...}) do
		if r == want then return r end
	end
	local wants = {}
	for _, want in ipairs({...}) do table.insert(wants, rname(want)) end
	error(string.format("%s: milter replied %s, expected %s", what, rname(r),
	      table.concat(wants, " or ")), 2)
end

-- Connect, send the client (host, ip) and HELO (if not nil).  No verdict is
-- given before RCPT: both must get CONTINUE.
function mx_open(ip, host, helo)
	local conn = mt.connect(SOCK, 50, 0.1)
	check(conn ~= nil, "mt.connect(" .. SOCK .. ") failed")
	check(mt.conninfo(conn, host, ip) == nil, "mt.conninfo() failed")
	expect_reply(conn, "connect", SMFIR_CONTINUE)
	if helo ~= nil then
		check(mt.helo(conn, helo) == nil, "mt.helo() failed")
		expect_reply(conn, "HELO", SMFIR_CONTINUE)
	end
	return conn
end

-- MAIL FROM with the queue id macro (and SASL login name if auth ~= nil).
function mx_mail(conn, qid, from, auth)
	if auth ~= nil then
		mt.macro(conn, SMFIC_MAIL, "i", qid, "{auth_authen}", auth, "{auth_type}", "PLAIN")
	else
		mt.macro(conn, SMFIC_MAIL, "i", qid)
	end
	check(mt.mailfrom(conn, from) == nil, "mt.mailfrom() failed")
	expect_reply(conn, "MAIL FROM " .. from, SMFIR_CONTINUE)
end

-- RCPT TO; the reply must be one of the given codes.
function mx_rcpt(conn, rcpt, ...)
	check(mt.rcptto(conn, rcpt) == nil, "mt.rcptto() failed")
	return expect_reply(conn, "RCPT TO " .. rcpt, ...)
end

-- Headers ({ {name, value}, ... }), each answered CONTINUE.  With
-- strip_space, the one space after the colon is taken off the value:
-- miltertest puts it back itself when SMFIP_HDR_LEADSPC is negotiated, as
-- an MTA would send it (values as mx_read_message returns them).
function mx_headers(conn, headers, strip_space)
	for _, h in ipairs(headers) do
		local v = h[2]
		if strip_space then
			v = string.gsub(v, "^ ", "", 1)
		end
		check(mt.header(conn, h[1], v) == nil, "mt.header(" .. h[1] .. ") failed")
		expect_reply(conn, "header " .. h[1], SMFIR_CONTINUE)
	end
end

-- Headers ({ {name, value}, ... }), EOH, a body (unless the filter asked
-- not to get one) and EOM; the caller checks the EOM reply.
function mx_send_message(conn, headers)
	mx_headers(conn, headers)
	check(mt.eoh(conn) == nil, "mt.eoh() failed")
	expect_reply(conn, "EOH", SMFIR_CONTINUE)
	if not mt.test_option(conn, SMFIP_NOBODY) then
		check(mt.bodystring(conn, "Test message body.\r\n") == nil, "mt.bodystring() failed")
		expect_reply(conn, "body", SMFIR_CONTINUE)
	end
	check(mt.eom(conn) == nil, "mt.eom() failed")
end

-- The same, and the EOM reply must be CONTINUE or ACCEPT.
function mx_message(conn, headers)
	mx_send_message(conn, headers)
	expect_reply(conn, "EOM", SMFIR_CONTINUE, SMFIR_ACCEPT)
end

-- Normalise folding white space: runs of blanks/newlines become one space.
function unfold(s)
	return (string.gsub(s, "%s+", " "))
end

-- Exactly one Authentication-Results header was inserted, at index 0 (the
-- top), folded with "\n\t" so that no line passes 78 characters, and its
-- unfolded value equals want.  Returns the raw value.
function expect_ar(conn, want)
	local v = mt.getheader(conn, AR, 0)
	check(v ~= nil, "no " .. AR .. " header added")
	-- with SMFIP_HDR_LEADSPC the value carries the space after the colon
	check(string.sub(v, 1, 1) == " ", AR .. " value does not start with a space: " .. v)
	check(mt.getheader(conn, AR, 1) == nil, "more than one " .. AR .. " header added")
	check(mt.eom_check(conn, MT_HDRINSERT, AR, v, 0),
	      AR .. " not inserted at index 0 (the top)")
	check(not mt.eom_check(conn, MT_HDRADD, AR),
	      AR .. " appended at the bottom instead of inserted at the top")
	check(string.find(v, "\r", 1, true) == nil, AR .. " contains CR: " .. v)
	local first = true
	for line in string.gmatch(v .. "\n", "([^\n]*)\n") do
		local len = #line
		if first then
			len = len + #AR + 1
		else
			check(string.sub(line, 1, 1) == "\t",
			      AR .. " continuation line does not start with TAB: " .. v)
		end
		check(len <= 78, AR .. " line longer than 78 characters: " .. v)
		first = false
	end
	if want ~= nil and want ~= "*" then
		check(unfold(string.sub(v, 2)) == want,
		      AR .. " is [" .. unfold(string.sub(v, 2)) .. "], expected [" .. want .. "]")
	end
	return v
end

-- The filter deleted the index-th (1-based) A-R header; the engine sends the
-- name the filter used: accept any spelling of the header name.
function ar_deleted(conn, index)
	return mt.eom_check(conn, MT_HDRDELETE, AR, index) or
	       mt.eom_check(conn, MT_HDRDELETE, "authentication-results", index) or
	       mt.eom_check(conn, MT_HDRDELETE, "AUTHENTICATION-RESULTS", index)
end

function std_headers(from, subject)
	return {
		{ "From", from },
		{ "To", "rcpt@dest.example" },
		{ "Subject", subject },
		{ "Message-ID", "<" .. subject .. "@client.example>" },
	}
end

-- The file's header fields {name, value} (value after the colon, folds as
-- CRLF) and its body (CRLF line ends; the RFC 8463 files are LF).
function mx_read_message(path)
	local f = assert(io.open(path, "rb"))
	local raw = f:read("*a")
	f:close()
	raw = string.gsub(raw, "\r\n", "\n")
	raw = string.gsub(raw, "\n", "\r\n")
	local hend = string.find(raw, "\r\n\r\n", 1, true)
	check(hend ~= nil, path .. ": no end of header")
	local head, body = string.sub(raw, 1, hend + 1), string.sub(raw, hend + 4)
	local headers, pos = {}, 1
	while pos <= #head do
		local e = pos
		repeat
			e = string.find(head, "\r\n", e, true)
			local nextc = string.sub(head, e + 2, e + 2)
			if nextc == " " or nextc == "\t" then e = e + 2 else break end
		until false
		local field = string.sub(head, pos, e - 1)
		local colon = string.find(field, ":", 1, true)
		table.insert(headers, {string.sub(field, 1, colon - 1), string.sub(field, colon + 1)})
		pos = e + 2
	end
	return headers, body
end

-- Run the test body; on failure print the reason (miltertest itself may
-- exit 1 without saying why) and fail.
function run(body)
	local ok, err = pcall(body)
	if not ok then
		mt.echo("FAIL: " .. tostring(err))
		error(err, 0)
	end
	mt.echo("PASS")
end
