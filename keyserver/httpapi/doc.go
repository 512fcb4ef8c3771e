// Package httpapi is the key server's HTTP layer (echo v4) over
// keyserver.Service: the API of docs/API.md, the pages (the open page and the
// console), the middleware (session cookie, CSRF header and Origin check,
// Content-Security-Policy and the other security headers, gateway and admin
// tokens), and the streamed reader of securedoc.html form posts. Handlers only
// translate: they build a keyserver.Caller for each request, call one Service
// method, and write its answer; they never reach the store. The wire types are
// in keyserver/api.
package httpapi
