package envelope_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"

	"github.com/waxseal/waxseal/envelope"
)

// Seal a message for two recipients, then open one recipient's securedoc.html with
// the server key that the key server would release to them.
func Example() {
	msg := []byte("From: alice@hospital.example\r\nSubject: results\r\n\r\nAll normal.\r\n")

	payload, ciphertext := envelope.EncryptPayload(msg) // once per message
	var files [][]byte
	var serverKeys []envelope.Key
	for _, to := range []string{"bob@patient.example", "carol@clinic.example"} {
		env, keys, err := payload.Seal(envelope.Header{
			KeyServer: "https://keys.hospital.example",
			From:      "alice@hospital.example",
			To:        to,
			Subject:   "Your results",
		})
		if err != nil {
			log.Fatal(err)
		}
		var file bytes.Buffer
		if err := env.WriteHTML(&file, keys.Env, bytes.NewReader(ciphertext)); err != nil {
			log.Fatal(err)
		}
		// keys.Server goes to the key server; keys.Env is inside the file.
		files, serverKeys = append(files, file.Bytes()), append(serverKeys, keys.Server)
	}

	f, err := envelope.ParseHTML(files[0])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("to:", f.Header.To)
	if _, err := f.Open(serverKeys[1]); errors.Is(err, envelope.ErrWrongKey) {
		fmt.Println("carol's server key: wrong key")
	}
	opened, err := f.Open(serverKeys[0])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("bob's server key: %q\n", opened[len(opened)-13:])
	// Output:
	// to: bob@patient.example
	// carol's server key: wrong key
	// bob's server key: "All normal.\r\n"
}
