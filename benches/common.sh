# Shared by the load scripts of benches/ (sourced, not run).

# login_demo APP USER CLAIMS JAR: one login of USER (with the JSON CLAIMS) through the
# development provider's login page of the demo at APP, with the cookie jar file JAR; prints
# the Cookie header value that carries the session.
login_demo() {
  local app=$1 user=$2 claims=$3 jar=$4 authorize page request issuer callback
  authorize=$(curl -s -o /dev/null -w '%{redirect_url}' -H 'Accept: text/html' -c "$jar" -b "$jar" "$app/ping/user")
  page=$(curl -s -c "$jar" -b "$jar" "$authorize")
  request=$(printf '%s' "$page" | sed -n 's/.*name="request" value="\([^"]*\)".*/\1/p' | head -1)
  issuer=${authorize%%/authorize*}
  callback=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" \
    --data-urlencode "request=$request" --data-urlencode "username=$user" \
    --data-urlencode "claims=$claims" "$issuer/login")
  curl -s -o /dev/null -c "$jar" -b "$jar" "$callback"
  awk '$6 ~ /^oidc_session\./ {printf "%s=%s; ", $6, $7}' "$jar"
}

# rotate_script COOKIES OUT: writes to OUT a wrk script that sends GET /ping/user with each
# line of the file COOKIES as the Cookie header in turn.
rotate_script() {
  cat > "$2" <<LUA
local cookies = {}
for line in io.lines("$1") do cookies[#cookies + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/ping/user", { ["Cookie"] = cookies[(i % #cookies) + 1] })
end
LUA
}
