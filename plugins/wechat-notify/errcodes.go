package main

// meaning explains an errcode and what to do (api/wecom.md §3).
func meaning(code int) string {
	return meanings()[code]
}

func meanings() map[int]string {
	return map[int]string{
		-1:    "WeCom is busy; retried and still busy",
		40001: "invalid corp_secret (it must be the app's own secret)",
		40008: "invalid message type",
		40013: "invalid corpid",
		40014: "invalid access_token",
		40056: "invalid agent_id",
		40074: "news messages cannot be safe",
		41001: "access_token missing",
		41011: "agent_id missing",
		41016: "title missing",
		41033: "description missing",
		42001: "access_token expired",
		44004: "text content is empty",
		45002: "content larger than WeCom allows",
		45009: "API call frequency exceeded (a robot takes at most 20 messages a minute); try again later",
		45033: "too many concurrent calls",
		48002: "this API is not permitted for the app",
		50002: "a member is outside the app's visible range",
		60020: "the caller's IP is not in the app's trusted-IP list: add the runner's egress IP (its address is the 'from ip' in WeCom's errmsg) in the WeCom admin console",
		81013: "no valid recipient: every user, department and tag id is invalid or outside the app's visible range",
		82001: "no recipient given (to_user, to_party and to_tag all empty)",
		82004: "invalid message content",
		93000: "robot webhook key invalid, or the robot was removed from its group",
		93004: "robot disabled",
		93008: "robot not in the group",
	}
}
