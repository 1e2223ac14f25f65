/* milter/session.h - placeholder */
