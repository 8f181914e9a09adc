export { CredentialsError, type CredentialsProblem } from './errors';
export {
  SERVICES,
  RELAY,
  ADMIN,
  agentIdentity,
  parseIdentity,
  identitiesFor,
  subjectToken,
  inboxPrefix,
  permissionsFor,
  type ServiceName,
  type Identity,
  type SubjectPermissions,
} from './permissions';
export { renderAuthConfig, type PublicIdentity } from './auth-config';
export {
  DEFAULT_CREDENTIALS_DIR,
  AUTH_CONFIG_FILE,
  HTTP_TOKEN_FILE,
  generateCredentials,
  loadCredentials,
  loadHttpToken,
  connectAs,
  type GenerateCredentialsOptions,
  type CredentialSet,
  type IdentityCredentials,
  type ConnectAsOptions,
} from './credentials';
export {
  verifyBearer,
  BearerTokenGuard,
  HTTP_API_TOKEN,
  type BearerCheck,
  type BearerRejection,
} from './bearer';
