package keyserver_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// softAuthenticator is a software WebAuthn authenticator for tests: ECDSA P-256
// passkeys with packed self-attestation, discoverable (it keeps the user handle),
// user verification always performed. It builds the same bytes a browser and a
// platform authenticator would, so go-webauthn verifies them for real.
type softAuthenticator struct {
	origin string // what the browser puts in clientDataJSON
	rpID   string // the relying party the authenticator thinks it talks to ("" → the options' rp.id)
	keys   []*softKey
	// BE/BS flags of new and used passkeys.
	backupEligible, backedUp bool
	// counterless authenticators always send a sign count of 0.
	counterless bool
	// reuseID makes the next passkey with this credential id (a misbehaving
	// client sending a credential the server already has).
	reuseID []byte
}

type softKey struct {
	id      []byte
	priv    *ecdsa.PrivateKey
	handle  []byte
	rpID    string
	counter uint32
}

var b64 = base64.RawURLEncoding

// errExcluded is InvalidStateError: the authenticator already holds an excluded
// credential.
var errExcluded = errors.New("authenticator holds an excluded credential")

type creationOptions struct {
	Challenge string `json:"challenge"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"user"`
	Exclude []struct {
		ID string `json:"id"`
	} `json:"excludeCredentials"`
}

type requestOptions struct {
	Challenge string `json:"challenge"`
	RPID      string `json:"rpId"`
}

func (a *softAuthenticator) flags(attested bool) byte {
	f := byte(0x01 | 0x04) // UP, UV
	if a.backupEligible {
		f |= 0x08
	}
	if a.backedUp {
		f |= 0x10
	}
	if attested {
		f |= 0x40
	}
	return f
}

func (a *softAuthenticator) clientData(typ, challenge string) []byte {
	cd, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return cd
}

// create answers navigator.credentials.create with the JSON a browser's
// credential.toJSON() gives.
func (a *softAuthenticator) create(options []byte) (*softKey, []byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, nil, err
	}
	for _, ex := range o.Exclude {
		for _, k := range a.keys {
			if ex.ID == b64.EncodeToString(k.id) {
				return nil, nil, errExcluded
			}
		}
	}
	handle, err := b64.DecodeString(o.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("user.id: %w", err)
	}
	rpID := a.rpID
	if rpID == "" {
		rpID = o.RP.ID
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k := &softKey{id: make([]byte, 32), priv: priv, handle: handle, rpID: rpID, counter: 1}
	rand.Read(k.id)
	if a.reuseID != nil {
		k.id = a.reuseID
	}
	if a.counterless {
		k.counter = 0
	}

	rpHash := sha256.Sum256([]byte(rpID))
	var auth bytes.Buffer
	auth.Write(rpHash[:])
	auth.WriteByte(a.flags(true))
	binary.Write(&auth, binary.BigEndian, k.counter)
	auth.Write(make([]byte, 16)) // AAGUID
	binary.Write(&auth, binary.BigEndian, uint16(len(k.id)))
	auth.Write(k.id)
	auth.Write(coseKey(&priv.PublicKey))

	clientData := a.clientData("webauthn.create", o.Challenge)
	cdHash := sha256.Sum256(clientData)
	signed := append(bytes.Clone(auth.Bytes()), cdHash[:]...)
	sig := sign(priv, signed)

	// {"fmt": "packed", "attStmt": {"alg": -7, "sig": sig}, "authData": auth}
	var att bytes.Buffer
	att.WriteByte(0xa3)
	cborText(&att, "fmt")
	cborText(&att, "packed")
	cborText(&att, "attStmt")
	att.WriteByte(0xa2)
	cborText(&att, "alg")
	att.WriteByte(0x26) // -7: ES256
	cborText(&att, "sig")
	cborBytes(&att, sig)
	cborText(&att, "authData")
	cborBytes(&att, auth.Bytes())

	resp, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"attestationObject": b64.EncodeToString(att.Bytes()),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
	a.keys = append(a.keys, k)
	return k, resp, nil
}

// get answers navigator.credentials.get with k (a discoverable credential: the
// person picked it, no allow list needed).
func (a *softAuthenticator) get(k *softKey, options []byte) []byte {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		panic(err)
	}
	if !a.counterless {
		k.counter++
	}
	rpHash := sha256.Sum256([]byte(k.rpID))
	var auth bytes.Buffer
	auth.Write(rpHash[:])
	auth.WriteByte(a.flags(false))
	binary.Write(&auth, binary.BigEndian, k.counter)
	clientData := a.clientData("webauthn.get", o.Challenge)
	cdHash := sha256.Sum256(clientData)
	sig := sign(k.priv, append(bytes.Clone(auth.Bytes()), cdHash[:]...))
	resp, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"authenticatorData": b64.EncodeToString(auth.Bytes()),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(k.handle),
		},
		"clientExtensionResults": map[string]any{},
	})
	return resp
}

func sign(priv *ecdsa.PrivateKey, data []byte) []byte {
	h := sha256.Sum256(data)
	sig, err := ecdsa.SignASN1(rand.Reader, priv, h[:])
	if err != nil {
		panic(err)
	}
	return sig
}

// coseKey encodes an EC2 P-256 public key: {1: 2, 3: -7, -1: 1, -2: x, -3: y}.
func coseKey(pub *ecdsa.PublicKey) []byte {
	raw, err := pub.Bytes() // 0x04 ‖ x ‖ y
	if err != nil {
		panic(err)
	}
	var b bytes.Buffer
	b.Write([]byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21})
	cborBytes(&b, raw[1:33])
	b.WriteByte(0x22)
	cborBytes(&b, raw[33:65])
	return b.Bytes()
}

func cborHead(b *bytes.Buffer, major byte, n int) {
	switch {
	case n < 24:
		b.WriteByte(major<<5 | byte(n))
	case n < 256:
		b.Write([]byte{major<<5 | 24, byte(n)})
	default:
		b.Write([]byte{major<<5 | 25, byte(n >> 8), byte(n)})
	}
}

func cborBytes(b *bytes.Buffer, p []byte) { cborHead(b, 2, len(p)); b.Write(p) }
func cborText(b *bytes.Buffer, s string)  { cborHead(b, 3, len(s)); b.WriteString(s) }
