package unseal

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

func TestOnlineScriptHash(t *testing.T) {
	sum := sha256.Sum256([]byte(OnlineScript))
	if got := base64.StdEncoding.EncodeToString(sum[:]); got != onlineScriptHash {
		t.Fatalf("onlineScriptHash is %s; OnlineScript hashes to %s", onlineScriptHash, got)
	}
}
