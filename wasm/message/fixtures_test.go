package message

// Realistic messages for the tests and the fuzz seed corpus. They are written
// with LF line ends; the table tests run each one with CRLF as well.

const pngRed = `iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR42mM4IScHRwzEcQCxYxBB
00rMDQAAAABJRU5ErkJggg==`

const pngBlue = `iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR42mMQqbgDRAwQCgAkTgWh
NajOuwAAAABJRU5ErkJggg==`

// Outlook: multipart/related around multipart/alternative, with a cid: image.
const outlookRelated = `Received: from AM0PR07MB1234.eurprd07.prod.outlook.com ([fe80::1]) by
 AM0PR07MB1234.eurprd07.prod.outlook.com ([fe80::1%5]) with mapi id 15.20.7002.021;
 Tue, 14 Nov 2023 09:12:44 +0000
From: "Mueller, Anna" <anna.mueller@contoso.example>
To: Bob Smith <bob@fabrikam.example>, "Carol" <carol@fabrikam.example>
CC: =?utf-8?Q?J=C3=B6rg_Sch=C3=A4fer?= <joerg@contoso.example>
Subject: =?utf-8?B?UXVhcnRhbHNiZXJpY2h0IOKAkyBRMw==?=
Thread-Topic: Quartalsbericht Q3
Thread-Index: AdoW8jyLXnCiAbCdEfGhIjKlMnOpQw==
Date: Tue, 14 Nov 2023 09:12:44 +0000
Message-ID: <AM0PR07MB1234ABCD@AM0PR07MB1234.eurprd07.prod.outlook.com>
Accept-Language: de-DE, en-US
Content-Language: de-DE
X-MS-Has-Attach: yes
X-MS-TNEF-Correlator:
Content-Type: multipart/related;
	boundary="_004_AM0PR07MB1234ABCD_";
	type="multipart/alternative"
MIME-Version: 1.0

--_004_AM0PR07MB1234ABCD_
Content-Type: multipart/alternative;
	boundary="_000_AM0PR07MB1234ABCD_"

--_000_AM0PR07MB1234ABCD_
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

SGFsbG8gQm9iLA0KDQphbmJlaSBkZXIgQmVyaWNodCBmw7xyIFEzLg0KDQpbY2lkOmltYWdlMDAx
LnBuZ0AwMURBMTZGMi4zQzhCNUU3MF0NCg0KVmllbGUgR3LDvMOfZQ0KQW5uYQ0K

--_000_AM0PR07MB1234ABCD_
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

<html xmlns:v=3D"urn:schemas-microsoft-com:vml" xmlns:o=3D"urn:schemas-micr=
osoft-com:office:office">
<head>
<meta http-equiv=3D"Content-Type" content=3D"text/html; charset=3Dutf-8">
</head>
<body lang=3D"DE" link=3D"#0563C1" vlink=3D"#954F72">
<div class=3D"WordSection1">
<p class=3D"MsoNormal">Hallo Bob,<o:p></o:p></p>
<p class=3D"MsoNormal">anbei der Bericht f=C3=BCr Q3.<o:p></o:p></p>
<p class=3D"MsoNormal"><img width=3D"96" height=3D"32" id=3D"Grafik_x0020_1=
" src=3D"cid:image001.png@01DA16F2.3C8B5E70"></p>
<p class=3D"MsoNormal">Viele Gr=C3=BC=C3=9Fe<br>Anna<o:p></o:p></p>
</div>
</body>
</html>

--_000_AM0PR07MB1234ABCD_--

--_004_AM0PR07MB1234ABCD_
Content-Type: image/png; name="image001.png"
Content-Description: image001.png
Content-Disposition: inline; filename="image001.png"; size=73;
	creation-date="Tue, 14 Nov 2023 09:12:43 GMT";
	modification-date="Tue, 14 Nov 2023 09:12:43 GMT"
Content-ID: <image001.png@01DA16F2.3C8B5E70>
Content-Transfer-Encoding: base64

` + pngRed + `

--_004_AM0PR07MB1234ABCD_--
`

// Apple Mail: multipart/alternative of text/plain and multipart/related.
const appleAlternative = `From: Jane Appleseed <jane@icloud.example>
Content-Type: multipart/alternative;
	boundary="Apple-Mail=_5B7C1D2E-3F4A-4B5C-8D9E-0F1A2B3C4D5E"
Mime-Version: 1.0 (Mac OS X Mail 16.0 \(3774.300.61.1.2\))
Subject: Lunch?
Date: Fri, 3 Nov 2023 12:30:05 +0100
Message-Id: <8F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0@icloud.example>
To: Tom <tom@example.org>
X-Mailer: Apple Mail (2.3774.300.61.1.2)


--Apple-Mail=_5B7C1D2E-3F4A-4B5C-8D9E-0F1A2B3C4D5E
Content-Transfer-Encoding: quoted-printable
Content-Type: text/plain;
	charset=utf-8

Hi Tom,

Shall we meet at the caf=C3=A9 at one?

Jane

--Apple-Mail=_5B7C1D2E-3F4A-4B5C-8D9E-0F1A2B3C4D5E
Content-Type: multipart/related;
	type="text/html";
	boundary="Apple-Mail=_0A9B8C7D-6E5F-4A3B-2C1D-0E9F8A7B6C5D"


--Apple-Mail=_0A9B8C7D-6E5F-4A3B-2C1D-0E9F8A7B6C5D
Content-Transfer-Encoding: quoted-printable
Content-Type: text/html;
	charset=utf-8

<html><head><meta http-equiv=3D"content-type" content=3D"text/html; =
charset=3Dutf-8"></head><body style=3D"overflow-wrap: break-word;">Hi =
Tom,<div><br></div><div>Shall we meet at the caf=C3=A9 at =
one?</div><div><img apple-inline=3D"yes" id=3D"1" =
src=3D"cid:5F2A1B3C-ABCD-4321-9876-0123456789AB"></div></body></html>
--Apple-Mail=_0A9B8C7D-6E5F-4A3B-2C1D-0E9F8A7B6C5D
Content-Transfer-Encoding: base64
Content-Disposition: inline;
	filename=map.png
Content-Type: image/png;
	x-unix-mode=0644;
	name="map.png"
Content-Id: <5F2A1B3C-ABCD-4321-9876-0123456789AB>

` + pngBlue + `
--Apple-Mail=_0A9B8C7D-6E5F-4A3B-2C1D-0E9F8A7B6C5D--

--Apple-Mail=_5B7C1D2E-3F4A-4B5C-8D9E-0F1A2B3C4D5E--
`

// Thunderbird: format=flowed with a quoted reply.
const thunderbirdFlowed = `Message-ID: <3b1f2c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d@example.net>
Date: Wed, 8 Nov 2023 17:45:12 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: en-US
To: Alice <alice@example.com>
From: Bob <bob@example.net>
Subject: Re: Trip
In-Reply-To: <a1@example.com>
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

On 08.11.23 09:00, Alice wrote:
> Are you coming on the trip next week? We leave on Monday 
> morning.

Yes, count me in. I will bring the maps and the first-aid 
kit, and some snacks for the road.

-- 
Bob
`

// A Latin-1 message sent as 8bit, with a raw Latin-1 header.
const latin1Message = "From: =?ISO-8859-1?Q?Fran=E7ois_Dupr=E9?= <francois@example.fr>\n" +
	"To: marie@example.fr\n" +
	"Subject: =?iso-8859-1?Q?R=E9union_de_l'=E9quipe?=\n" +
	"Organization: Caf\xe9 du Coin\n" +
	"Date: Mon, 6 Nov 2023 08:00:00 +0100\n" +
	"MIME-Version: 1.0\n" +
	"Content-Type: text/plain; charset=\"iso-8859-1\"\n" +
	"Content-Transfer-Encoding: 8bit\n" +
	"\n" +
	"Bonjour Marie,\n\nLa r\xe9union est d\xe9plac\xe9e \xe0 jeudi. Le caf\xe9 co\xfbte 2 \x80.\n\nFran\xe7ois\n"

// A windows-1252 subject and body, decoded through the CharsetDecoder hook.
const cp1252Message = `From: sales@shop.example
To: customer@example.com
Subject: =?windows-1252?Q?=93Special=94_offer_=96_50=80_off?=
Date: Thu, 9 Nov 2023 10:00:00 -0500
MIME-Version: 1.0
Content-Type: text/plain; charset=windows-1252
Content-Transfer-Encoding: quoted-printable

Don=92t miss it!
`

// Attachments named in RFC 2231, RFC 2047 and not at all.
const rfc2231Message = `From: Docs <docs@example.com>
To: you@example.com
Subject: Files
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="==BOUNDARY=="

This is a multi-part message in MIME format.

--==BOUNDARY==
Content-Type: text/plain; charset=us-ascii

Five files attached.

--==BOUNDARY==
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''na%C3%AFve%20plan.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--==BOUNDARY==
Content-Type: text/plain; charset=utf-8
Content-Disposition: attachment;
 filename*0*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E;
 filename*1*=%E3%81%AE%E6%96%87%E6%9B%B8;
 filename*2=".txt"

hello
--==BOUNDARY==
Content-Type: application/vnd.ms-excel; name="=?UTF-8?B?w5xiZXJzaWNodC54bHM=?="
Content-Disposition: attachment
Content-Transfer-Encoding: base64

0M8R4KGxGuE=
--==BOUNDARY==
Content-Type: application/pdf
Content-Transfer-Encoding: base64

JVBERi0xLjcK
--==BOUNDARY==
Content-Type: text/plain
Content-Disposition: attachment; filename="../../etc/notes.txt"

notes
--==BOUNDARY==
Content-Type: text/plain
Content-Disposition: attachment; filename*=iso-8859-1'fr'r%E9sum%E9.txt

cv
--==BOUNDARY==--
`

// The attached message of forwardedMessage.
const innerMessage = `From: Original Sender <orig@example.org>
To: fwd@example.com
Subject: =?utf-8?Q?Budget_2024/25_=E2=80=93_draft?=
Date: Mon, 13 Nov 2023 11:00:00 +0000
Content-Type: text/plain; charset=utf-8

Numbers inside.
`

// A forward with a message/rfc822 part.
const forwardedMessage = `From: Fwd <fwd@example.com>
To: boss@example.com
Subject: Fwd: Budget
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd-boundary"

--fwd-boundary
Content-Type: text/plain; charset=utf-8

See the forwarded message.

--fwd-boundary
Content-Type: message/rfc822
Content-Disposition: inline

` + innerMessage + `
--fwd-boundary
Content-Type: message/rfc822; name="earlier.eml"

` + innerMessage + `
--fwd-boundary--
`

const headersOnly = `From: Nobody <nobody@example.com>
To: somebody@example.com
Subject: (no body)
Date: Sat, 11 Nov 2023 00:00:00 +0000
`

const noHeaders = `Just some text that someone typed,
without any header at all.
`

// A multipart cut off before its final boundary, in the middle of an attachment.
const brokenMultipart = `From: a@example.com
Subject: cut off
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

The attachment is cut off.

--b1
Content-Type: application/octet-stream; name="data.bin"
Content-Transfer-Encoding: base64

AAECAwQFBgcICQ==
`

// A multipart whose boundary never appears.
const noBoundaryLines = `From: a@example.com
Subject: no boundary lines
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="never-used"

Plain text after all.
`

const unknownEncoding = `From: a@example.com
Subject: uuencoded
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: x-uuencode

begin 644 hello.txt
%:&5L;&\*
end
`

const badBase64 = `From: a@example.com
Subject: not base64 at all
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

Hello, this text was labelled base64 but is not!
`

// PGP/MIME signed.
const pgpSigned = `From: signer@example.com
To: you@example.com
Subject: signed
MIME-Version: 1.0
Content-Type: multipart/signed; micalg=pgp-sha256;
 protocol="application/pgp-signature";
 boundary="------------sig"

This is an OpenPGP/MIME signed message (RFC 4880 and 3156)
--------------sig
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

Signed text.

--------------sig
Content-Type: application/pgp-signature; name="OpenPGP_signature.asc"
Content-Description: OpenPGP digital signature
Content-Disposition: attachment; filename="OpenPGP_signature.asc"

-----BEGIN PGP SIGNATURE-----

wnsEABYIACMWIQQAAAAAAAAAAAAAAAAAAAAAAAAAAAUCZVAAAAAACgkQAAAAAAAA
=AAAA
-----END PGP SIGNATURE-----

--------------sig--
`

// An Outlook meeting invitation: the calendar alternative becomes a file.
const invitation = `From: Organizer <org@example.com>
To: guest@example.com
Subject: Meeting
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="_000_inv_"

--_000_inv_
Content-Type: text/plain; charset="us-ascii"

Join us on Friday.

--_000_inv_
Content-Type: text/html; charset="us-ascii"

<html><body><p>Join us on <b>Friday</b>.</p></body></html>

--_000_inv_
Content-Type: text/calendar; charset="utf-8"; method=REQUEST
Content-Transfer-Encoding: base64

QkVHSU46VkNBTEVOREFSDQpFTkQ6VkNBTEVOREFSDQo=

--_000_inv_--
`

// An mbox export with its "From " line, a digest, and a mixed message whose
// text is interrupted by an inline image (Apple Mail).
const digest = `From MAILER-DAEMON Mon Nov 13 10:00:00 2023
From: list@example.com
To: list@example.com
Subject: Digest
MIME-Version: 1.0
Content-Type: multipart/digest; boundary="dig"

--dig

From: one@example.com
Subject: First

one
--dig

From: two@example.com
Subject: Second

two
--dig--
`

const mixedInline = `From: Jane <jane@example.com>
Subject: photo
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="Apple-Mail=_mixed"

--Apple-Mail=_mixed
Content-Type: text/plain; charset=us-ascii

Look at this:

--Apple-Mail=_mixed
Content-Disposition: inline; filename=photo.png
Content-Type: image/png; name="photo.png"
Content-Transfer-Encoding: base64

` + pngBlue + `
--Apple-Mail=_mixed
Content-Type: text/plain; charset=us-ascii

Nice, isn't it?
--Apple-Mail=_mixed--
`
