DROP TABLE link_proofs;
DROP TABLE upstream_states;
DROP TABLE user_identities;
DROP TABLE upstream_domains;
DROP TABLE upstream_connections;
