DROP TABLE used_webauthn_challenges;
DROP TABLE passkeys;
