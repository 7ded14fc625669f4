-- One database per national node of deploy/compose.yaml (run once, when the PostgreSQL volume is new).
CREATE DATABASE sifnet_be_vl;
CREATE DATABASE sifnet_nl;
CREATE DATABASE sifnet_at;
CREATE DATABASE sifnet_it;
CREATE DATABASE sifnet_hu;
