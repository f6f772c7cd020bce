// A real OpenID Connect provider (oidc-provider) on 127.0.0.1 for govern's identity tests.
//
// Environment: PORT (to listen on), JWKS_FILE (the private signing keys, newest first),
// AUDIENCE (the resource indicator whose access tokens are JWTs).
// SIGHUP re-reads JWKS_FILE, so a test can rotate the signing key while govern runs; clients and
// grants live in the library's in-memory adapter, which every provider instance of this process shares.
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const audience = process.env.AUDIENCE;

// The people the tests sign in as: the login form accepts any password for these names.
const accounts = {
  sara: { email: 'sara@lab.example', email_verified: true, groups: ['safety-researchers'] },
  vera: { email: 'vera@example.org', email_verified: true, groups: ['staff'] },
  ulrich: { email: 'ulrich@example.org', email_verified: false, groups: [] },
  ada: { email: 'ada@example.org', email_verified: true, groups: ['govern-admins'] },
  otto: { email: 'otto@example.org', email_verified: true, groups: ['govern-auditors'] },
};

function accountClaims(id) {
  return { sub: id, ...(accounts[id] ?? {}) };
}

function build() {
  const jwks = JSON.parse(readFileSync(process.env.JWKS_FILE, 'utf8'));
  const provider = new Provider(issuer, {
    jwks,
    clients: [{
      client_id: 'govern-tests',
      client_secret: 'govern-tests-secret',
      grant_types: ['authorization_code', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      scope: 'openid email groups api',
    }],
    scopes: ['openid', 'email', 'groups', 'api'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    findAccount: (ctx, id) => ({ accountId: id, claims: () => accountClaims(id) }),
    extraTokenClaims: (ctx, token) => {
      // Access tokens carry the same identity claims as ID tokens, so govern can map either.
      if (!token.accountId) return undefined;
      const { sub, ...claims } = accountClaims(token.accountId);
      return claims;
    },
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      registration: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => {
          if (resource !== audience) throw new errors.InvalidTarget();
          return {
            scope: 'api',
            audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 600,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    pkce: { required: () => true },
    ttl: { AccessToken: 600, IdToken: 600, ClientCredentials: 600 },
  });
  return provider.callback();
}

let handle = build();
process.on('SIGHUP', () => {
  handle = build();
  process.stdout.write('keys reloaded\n');
});
http.createServer((req, res) => handle(req, res)).listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening on ${issuer}\n`);
});
