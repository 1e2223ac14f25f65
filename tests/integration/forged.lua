-- forged.lua - Authentication-Results headers that claim our authserv-id
-- (any case, comments before it, quoted, folded) are deleted by index;
-- those of other hosts (also one naming us in a comment, one whose id only
-- starts with ours) are kept; ours is inserted at the top.
-- -D: QID.
dofile(TESTDIR .. "/common.lua")

run(function()
	local conn = mx_open("192.0.2.10", "mx.client.example", "mx.client.example")
	mx_mail(conn, QID, "<user@pass.example>")
	mx_rcpt(conn, "<rcpt@dest.example>", SMFIR_CONTINUE)
	local hdrs = {
		{ "From", "user@pass.example" },
		{ AR, "mx.rig.example; spf=pass smtp.mailfrom=user@pass.example" },       -- 1 ours
		{ AR, "other.example; spf=fail smtp.mailfrom=user@pass.example" },        -- 2 kept
		{ "Subject", "forged" },
		{ "authentication-results", "(comment (nested)) MX.Rig.Example ; dkim=pass header.d=pass.example" }, -- 3 ours
		{ "AUTHENTICATION-RESULTS", "\"mx.rig.example\";\n\tspf=pass smtp.mailfrom=user@pass.example" },  -- 4 ours
		{ AR, "other.example (mx.rig.example); spf=pass smtp.mailfrom=x@pass.example" }, -- 5 kept
		{ AR, "mx.rig.example.evil; spf=pass smtp.mailfrom=x@pass.example" },     -- 6 kept
		{ AR, "\n\tmx.rig.example;\n\tnone" },                                     -- 7 ours
		{ "To", "rcpt@dest.example" },
	}
	mx_message(conn, hdrs)
	for _, i in ipairs({ 1, 3, 4, 7 }) do
		check(ar_deleted(conn, i), AR .. " #" .. i .. " (ours, forged) was not deleted")
	end
	for _, i in ipairs({ 2, 5, 6 }) do
		check(not ar_deleted(conn, i), AR .. " #" .. i .. " (another host's) was deleted")
	end
	check(not ar_deleted(conn, 8), "deleted a header index that does not exist")
	check(not mt.eom_check(conn, MT_HDRDELETE, "Subject"), "deleted Subject")
	expect_ar(conn, "mx.rig.example; spf=pass smtp.mailfrom=user@pass.example; spf=pass smtp.helo=mx.client.example")
	mt.disconnect(conn)
end)
