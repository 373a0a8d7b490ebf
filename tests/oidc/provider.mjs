// A real OpenID Provider (the `oidc-provider` package) on 127.0.0.1, for interdict's single
// sign-on tests. Usage: node provider.mjs REDIRECT_URI
// Prints one line `issuer=http://127.0.0.1:PORT` once it listens, then serves until killed.
// One confidential client `interdict` (secret `test-client-secret`, PKCE required) and two
// people whose `groups` claims differ. The login form is oidc-provider's own development
// interaction (login name = account id, any password), followed by its consent form.
import http from 'node:http';
import Provider from 'oidc-provider';

const redirect = process.argv[2];
if (!redirect) {
  console.error('usage: node provider.mjs REDIRECT_URI');
  process.exit(2);
}

const accounts = {
  alice: { sub: 'alice', email: 'alice@example.org', email_verified: true, name: 'Alice Approver', groups: ['interdict-approvers', 'staff'] },
  bob: { sub: 'bob', email: 'bob@example.org', email_verified: true, name: 'Bob Analyst', groups: ['interdict-analysts'] },
  carol: { sub: 'carol', email: 'carol@example.org', email_verified: true, name: 'Carol Nogroup', groups: ['staff'] },
};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'interdict',
      client_secret: 'test-client-secret',
      redirect_uris: [redirect],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    async findAccount(ctx, id) {
      const a = accounts[id];
      if (!a) return undefined;
      return { accountId: id, async claims() { return { ...a }; } };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // The ID token carries the claims (interdict reads them from it, not from userinfo).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['interdict-test-cookie-key'] },
  });
  provider.proxy = false;
  server.on('request', provider.callback());
  console.log(`issuer=${issuer}`);
});
process.on('SIGTERM', () => process.exit(0));
